// PROXY protocol v1 (text) and v2 (binary) header reader, after HAProxy's doc/proxy-protocol.txt.
// Pure: bytes in, a result out; it never reads past the header, so the bytes after it stay MQTT.
// No npm library fitted: proxy-protocol-js parses only a whole header (no partial input) and
// leaves v2 TLVs as raw bytes; the other candidates are barely used.
import { isIPv6 } from 'node:net';

/** Why a connection's PROXY header was refused; low-cardinality, a metric label. */
export type ProxyHeaderFailure =
  /** The first bytes are neither "PROXY " nor the v2 signature (a client connected straight in). */
  | 'not-proxy'
  /** A PROXY header that breaks the spec's grammar. */
  | 'malformed'
  /** A valid-looking header this broker does not take: another v2 version, a datagram transport. */
  | 'unsupported'
  /** Longer than the bound: v1 107 bytes with CRLF [spec 2.1], v2 a configured address + TLV length. */
  | 'too-long'
  /** The stream ended before the header did. */
  | 'truncated';

export interface ProxyEndpoint {
  address: string;
  port: number;
}

/** PP2_TYPE_SSL: what the proxy saw of the client's TLS session [spec 2.2.6]. */
export interface ProxySsl {
  /** PP2_CLIENT_SSL: the client connected over TLS. */
  tls: boolean;
  /** PP2_CLIENT_CERT_CONN / PP2_CLIENT_CERT_SESS: a client certificate on this connection, or earlier in its TLS session. */
  certificateOnConnection: boolean;
  certificateInSession: boolean;
  /** The proxy's verify result: 0 is success, otherwise an X509_V_ERR code. */
  verifyResult: number;
  /**
   * A certificate was presented and verified. The verify field alone does not say so: HAProxy reports 0
   * when the client sent no certificate at all (OpenSSL's result without one is X509_V_OK).
   */
  certificateVerified: boolean;
  version?: string;
  /** PP2_SUBTYPE_SSL_CN: the client certificate's subject CN. */
  commonName?: string;
  cipher?: string;
  signatureAlgorithm?: string;
  keyAlgorithm?: string;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** 'local': the proxy's own connection (a health check); the socket's own addresses apply [spec 2.2]. */
  command: 'proxy' | 'local';
  /** 'unspec' (v1 UNKNOWN, v2 AF_UNSPEC or UNSPEC transport) and 'unix' carry no address to use. */
  family: 'ipv4' | 'ipv6' | 'unix' | 'unspec';
  /** The client as the proxy saw it; absent when the socket's own address applies. */
  source?: ProxyEndpoint;
  destination?: ProxyEndpoint;
  /** PP2_TYPE_AUTHORITY: the host name the client asked for (its TLS SNI). */
  authority?: string;
  ssl?: ProxySsl;
  /** Bytes the header took on the wire. */
  length: number;
}

export type ProxyHeaderResult =
  | { status: 'more' }
  | { status: 'done'; header: ProxyHeader; rest: Buffer }
  | { status: 'error'; reason: ProxyHeaderFailure; detail: string };

export const V1_MAX_LENGTH = 107;
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/**
 * Default bound on the v2 length field (addresses + TLVs). What HAProxy sends with SSL, CN, authority
 * and a unique id stays under 600 bytes; the field itself allows 64 KiB, which an untrusted peer
 * could make the reader hold.
 */
export const DEFAULT_MAX_V2_LENGTH = 2048;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_FIXED_LENGTH = 16;
const CR = 0x0d;
const LF = 0x0a;
const MORE: ProxyHeaderResult = { status: 'more' };

const PP2_TYPE_AUTHORITY = 0x02;
const PP2_TYPE_SSL = 0x20;
const PP2_SUBTYPE_SSL_VERSION = 0x21;
const PP2_SUBTYPE_SSL_CN = 0x22;
const PP2_SUBTYPE_SSL_CIPHER = 0x23;
const PP2_SUBTYPE_SSL_SIG_ALG = 0x24;
const PP2_SUBTYPE_SSL_KEY_ALG = 0x25;
const PP2_CLIENT_SSL = 0x01;
const PP2_CLIENT_CERT_CONN = 0x02;
const PP2_CLIENT_CERT_SESS = 0x04;

/** Address block size by v2 address family (AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX). */
const V2_ADDRESS_LENGTH = [0, 12, 36, 216] as const;

const fail = (reason: ProxyHeaderFailure, detail: string): ProxyHeaderResult => ({ status: 'error', reason, detail });

/**
 * Reads one connection's PROXY header from its first chunks. Feed each chunk until the result is not
 * 'more'; 'done' hands back the bytes after the header. It holds at most one header's bytes.
 */
export class ProxyHeaderReader {
  readonly #maxV2Length: number;
  #pending: Buffer = Buffer.alloc(0);
  #finished = false;

  constructor(maxV2Length = DEFAULT_MAX_V2_LENGTH) {
    this.#maxV2Length = maxV2Length;
  }

  feed(chunk: Buffer): ProxyHeaderResult {
    if (this.#finished) throw new Error('ProxyHeaderReader fed after it finished');
    const bytes = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const result = readProxyHeader(bytes, this.#maxV2Length);
    if (result.status === 'more') {
      // A copy: the chunk may be a slice of a larger pooled buffer we should not pin.
      this.#pending = bytes === chunk ? Buffer.from(chunk) : bytes;
    } else {
      this.#finished = true;
      this.#pending = Buffer.alloc(0);
    }
    return result;
  }

  /** The stream ended: whatever was buffered is a truncated header. */
  end(): ProxyHeaderResult {
    const held = this.#pending.length;
    this.#finished = true;
    this.#pending = Buffer.alloc(0);
    return fail('truncated', `the stream ended after ${held} bytes, before a complete PROXY header`);
  }
}

/** Reads a PROXY header from the start of `bytes`; 'more' while what is there is a valid beginning. */
export function readProxyHeader(bytes: Buffer, maxV2Length = DEFAULT_MAX_V2_LENGTH): ProxyHeaderResult {
  if (bytes.length === 0) return MORE;
  // Reject on the first wrong byte, as the spec recommends, rather than waiting for a whole line.
  if (bytes[0] === V2_SIGNATURE[0]) return readV2(bytes, maxV2Length);
  if (bytes[0] === V1_PREFIX[0]) return readV1(bytes);
  return fail('not-proxy', `first byte 0x${bytes[0]!.toString(16).padStart(2, '0')} starts no PROXY header`);
}

/** Whether `bytes` begins like `prefix` as far as both go. */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

function readV1(bytes: Buffer): ProxyHeaderResult {
  if (!startsLike(bytes, V1_PREFIX)) return fail('not-proxy', 'starts with P but not with "PROXY "');
  let lineEnd = -1;
  for (let i = V1_PREFIX.length; i < bytes.length && i < V1_MAX_LENGTH; i++) {
    const byte = bytes[i];
    // A lone CR or LF never ends the line [spec 2.1].
    if (byte === LF) return fail('malformed', 'v1 line feed without a carriage return');
    if (byte !== CR) continue;
    if (i + 1 >= V1_MAX_LENGTH) return fail('too-long', `v1 line longer than ${V1_MAX_LENGTH} bytes`);
    if (i + 1 >= bytes.length) return MORE;
    if (bytes[i + 1] !== LF) return fail('malformed', 'v1 carriage return without a line feed');
    lineEnd = i;
    break;
  }
  if (lineEnd < 0) {
    return bytes.length >= V1_MAX_LENGTH ? fail('too-long', `no CRLF in the first ${V1_MAX_LENGTH} bytes`) : MORE;
  }
  const length = lineEnd + 2;
  const rest = bytes.subarray(length);
  const fields = bytes.toString('latin1', V1_PREFIX.length, lineEnd).split(' ');
  const protocol = fields[0];
  // UNKNOWN: the receiver ignores the rest of the line and uses the socket's addresses [spec 2.1].
  if (protocol === 'UNKNOWN') return { status: 'done', header: { version: 1, command: 'proxy', family: 'unspec', length }, rest };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return fail('malformed', `v1 protocol ${JSON.stringify(protocol?.slice(0, 16))} is not TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 5) return fail('malformed', `v1 ${protocol} line has ${fields.length - 1} fields, not 4`);
  const [, sourceAddress, destinationAddress, sourcePort, destinationPort] = fields as [string, string, string, string, string];
  const validAddress = protocol === 'TCP4' ? isCanonicalIPv4 : isCanonicalIPv6;
  if (!validAddress(sourceAddress) || !validAddress(destinationAddress)) return fail('malformed', `v1 ${protocol} address is not canonical`);
  const source = parsePort(sourcePort);
  const destination = parsePort(destinationPort);
  if (source === undefined || destination === undefined) return fail('malformed', 'v1 port is not a decimal in 0..65535 without leading zeros');
  const header: ProxyHeader = {
    version: 1,
    command: 'proxy',
    family: protocol === 'TCP4' ? 'ipv4' : 'ipv6',
    source: { address: sourceAddress.toLowerCase(), port: source },
    destination: { address: destinationAddress.toLowerCase(), port: destination },
    length,
  };
  return { status: 'done', header, rest };
}

/** Four decimals 0..255 without leading zeros, which could read as octal [spec 2.1]. */
function isCanonicalIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255);
}

/** Hex groups and at most one "::": no embedded IPv4 form, no zone id. */
function isCanonicalIPv6(text: string): boolean {
  return text.length <= 39 && /^[0-9a-fA-F:]+$/.test(text) && isIPv6(text);
}

function parsePort(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function readV2(bytes: Buffer, maxV2Length: number): ProxyHeaderResult {
  if (!startsLike(bytes, V2_SIGNATURE)) return fail('not-proxy', 'starts with CR but not with the PROXY v2 signature');
  if (bytes.length < V2_FIXED_LENGTH) return MORE;
  const version = bytes[12]! >> 4;
  const command = bytes[12]! & 0x0f;
  if (version !== 2) return fail('unsupported', `PROXY v2 signature with version ${version}`);
  if (command > 1) return fail('malformed', `v2 command ${command} is neither LOCAL nor PROXY`);
  const bodyLength = bytes.readUInt16BE(14);
  if (bodyLength > maxV2Length) return fail('too-long', `v2 length ${bodyLength} exceeds ${maxV2Length}`);
  const length = V2_FIXED_LENGTH + bodyLength;
  if (bytes.length < length) return MORE;
  const rest = bytes.subarray(length);
  // LOCAL: the proxy's own connection; the address block, family included, is ignored [spec 2.2].
  if (command === 0) return { status: 'done', header: { version: 2, command: 'local', family: 'unspec', length }, rest };
  const body = bytes.subarray(V2_FIXED_LENGTH, length);
  const parsed = readV2Proxy(bytes[13]!, body);
  if (typeof parsed === 'string') return fail(parsed.startsWith('datagram') ? 'unsupported' : 'malformed', parsed);
  return { status: 'done', header: { version: 2, command: 'proxy', length, ...parsed }, rest };
}

type V2Fields = Pick<ProxyHeader, 'family' | 'source' | 'destination' | 'authority' | 'ssl'>;

/** The address block and TLVs of a v2 PROXY command; a string says what is wrong. */
function readV2Proxy(familyByte: number, body: Buffer): V2Fields | string {
  const family = familyByte >> 4;
  const transport = familyByte & 0x0f;
  if (family > 3 || transport > 2) return `v2 family/transport byte 0x${familyByte.toString(16)} is not defined`;
  // An MQTT listener is a stream; a datagram flow behind the proxy cannot be one.
  if (transport === 2) return 'datagram transport in a v2 header';
  const addressLength = V2_ADDRESS_LENGTH[family as 0 | 1 | 2 | 3];
  if (body.length < addressLength) return `v2 address block of ${body.length} bytes is short of ${addressLength}`;
  const fields: V2Fields = { family: 'unspec' };
  // An UNSPEC transport means "ignore the address information" [spec 2.2]; AF_UNIX addresses are no use to MQTT.
  if (transport === 1 && family === 3) fields.family = 'unix';
  if (transport === 1 && (family === 1 || family === 2)) {
    const size = family === 1 ? 4 : 16;
    const format = family === 1 ? formatIPv4 : formatIPv6;
    fields.family = family === 1 ? 'ipv4' : 'ipv6';
    fields.source = { address: format(body.subarray(0, size)), port: body.readUInt16BE(2 * size) };
    fields.destination = { address: format(body.subarray(size, 2 * size)), port: body.readUInt16BE(2 * size + 2) };
  }
  const problem = walkTlvs(body.subarray(addressLength), (type, value) => {
    if (type === PP2_TYPE_AUTHORITY) fields.authority = value.toString('utf8');
    if (type !== PP2_TYPE_SSL) return undefined; // ALPN, NOOP, UNIQUE_ID, NETNS, custom: not used
    const ssl = readSsl(value);
    if (typeof ssl === 'string') return ssl;
    fields.ssl = ssl;
    return undefined;
  });
  // PP2_TYPE_CRC32C is not checked: the spec asks it only of receivers that support it.
  return problem ?? fields;
}

/** Calls `visit` for each TLV; a string (from the walk or from `visit`) says what is wrong. */
function walkTlvs(bytes: Buffer, visit: (type: number, value: Buffer) => string | undefined): string | undefined {
  let at = 0;
  while (at < bytes.length) {
    if (at + 3 > bytes.length) return 'v2 TLV header runs past the end of the PROXY header';
    const type = bytes[at]!;
    const end = at + 3 + bytes.readUInt16BE(at + 1);
    if (end > bytes.length) return `v2 TLV 0x${type.toString(16)} runs past the end of its container`;
    const problem = visit(type, bytes.subarray(at + 3, end));
    if (problem !== undefined) return problem;
    at = end;
  }
  return undefined;
}

/** struct pp2_tlv_ssl { uint8_t client; uint32_t verify; struct pp2_tlv sub_tlv[]; } [spec 2.2.6] */
function readSsl(value: Buffer): ProxySsl | string {
  if (value.length < 5) return `v2 SSL TLV of ${value.length} bytes is short of 5`;
  const client = value[0]!;
  const verifyResult = value.readUInt32BE(1);
  const certificateOnConnection = (client & PP2_CLIENT_CERT_CONN) !== 0;
  const certificateInSession = (client & PP2_CLIENT_CERT_SESS) !== 0;
  const ssl: ProxySsl = {
    tls: (client & PP2_CLIENT_SSL) !== 0,
    certificateOnConnection,
    certificateInSession,
    verifyResult,
    certificateVerified: (certificateOnConnection || certificateInSession) && verifyResult === 0,
  };
  const problem = walkTlvs(value.subarray(5), (type, sub) => {
    const text = sub.toString('utf8');
    if (type === PP2_SUBTYPE_SSL_VERSION) ssl.version = text;
    else if (type === PP2_SUBTYPE_SSL_CN) ssl.commonName = text;
    else if (type === PP2_SUBTYPE_SSL_CIPHER) ssl.cipher = text;
    else if (type === PP2_SUBTYPE_SSL_SIG_ALG) ssl.signatureAlgorithm = text;
    else if (type === PP2_SUBTYPE_SSL_KEY_ALG) ssl.keyAlgorithm = text;
    return undefined;
  });
  return problem ?? ssl;
}

function formatIPv4(bytes: Buffer): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** RFC 5952 text, with an IPv4-mapped address as ::ffff:a.b.c.d as Node's sockets report it. */
export function formatIPv6(bytes: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatIPv4(bytes.subarray(12, 16))}`;
  // The longest run of two or more zero groups becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
