// PROXY protocol headers built byte by byte from the spec (HAProxy doc/proxy-protocol.txt), written
// apart from the broker's reader so a test does not check the reader against itself.
import { isIPv4 } from 'node:net';

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

export const PP2 = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  SSL_VERSION: 0x21,
  SSL_CN: 0x22,
  SSL_CIPHER: 0x23,
  NETNS: 0x30,
  CLIENT_SSL: 0x01,
  CLIENT_CERT_CONN: 0x02,
  CLIENT_CERT_SESS: 0x04,
} as const;

export interface Endpoint {
  address: string;
  port: number;
}

/** "PROXY TCP4 src dst sport dport\r\n", the family taken from the source address. */
export function proxyV1(source: Endpoint, destination: Endpoint): Buffer {
  const family = isIPv4(source.address) ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${family} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, 'latin1');
}

export function tlv(type: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/** PP2_TYPE_SSL with its client flags, verify result and sub-TLVs. */
export function sslTlv(client: number, verify: number, subs: Buffer[] = []): Buffer {
  const head = Buffer.alloc(5);
  head[0] = client;
  head.writeUInt32BE(verify, 1);
  return tlv(PP2.SSL, Buffer.concat([head, ...subs]));
}

export interface V2Options {
  command?: 'local' | 'proxy';
  /** The version nibble; 2 unless a test wants another. */
  version?: number;
  /** The family/transport byte; taken from the source address when absent (0x11 or 0x21). */
  familyByte?: number;
  source?: Endpoint;
  destination?: Endpoint;
  tlvs?: Buffer[];
  /** Overrides the length field, for headers that lie about their size. */
  length?: number;
}

/** Sixteen bytes of an IPv6 address written as hex groups (no embedded IPv4 form). */
function ipv6Bytes(text: string): Buffer {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groupsOf = (part: string | undefined) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const front = groupsOf(head);
  const back = groupsOf(tail);
  const groups = tail === undefined ? front : [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(g, 2 * i));
  return bytes;
}

function addressBlock(source: Endpoint, destination: Endpoint): { familyByte: number; block: Buffer } {
  const v4 = isIPv4(source.address);
  const encode = v4 ? (text: string) => Buffer.from(text.split('.').map(Number)) : ipv6Bytes;
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(source.port, 0);
  ports.writeUInt16BE(destination.port, 2);
  return { familyByte: v4 ? 0x11 : 0x21, block: Buffer.concat([encode(source.address), encode(destination.address), ports]) };
}

export function proxyV2(options: V2Options = {}): Buffer {
  const command = options.command === 'local' ? 0 : 1;
  const addresses = options.source && options.destination ? addressBlock(options.source, options.destination) : { familyByte: 0x00, block: Buffer.alloc(0) };
  const body = Buffer.concat([addresses.block, ...(options.tlvs ?? [])]);
  const head = Buffer.alloc(16);
  Buffer.from(SIGNATURE).copy(head);
  head[12] = ((options.version ?? 2) << 4) | command;
  head[13] = options.familyByte ?? addresses.familyByte;
  head.writeUInt16BE(options.length ?? body.length, 14);
  return Buffer.concat([head, body]);
}
