import { parser as createParser, type IConnectPacket, type Packet } from 'mqtt-packet';

/** What a reader hands its packets to: one connection. */
export interface PacketSink {
  onPacket(packet: Packet): void;
  onMalformed(error: Error): void;
  /** A packet announced larger than allowed, refused before its body is buffered [MQTT-3.2.2-15]. */
  onTooLarge(size: number, whole: boolean): void;
}

/** How later packets are decoded: set from the CONNECT (version; v3/v4 bridge bit). */
export type DecodeMode = number;

/** Before CONNECT: the CONNECT itself says its version. */
export const BEFORE_CONNECT: DecodeMode = 0;

export function decodeModeOf(connect: IConnectPacket): DecodeMode {
  return (connect.protocolVersion ?? 4) * 2 + ((connect as { bridgeMode?: boolean }).bridgeMode ? 1 : 0);
}

interface ParserState {
  settings: { protocolVersion?: number; bridgeMode?: boolean };
  parse(bytes: Buffer): number;
  on(event: 'packet', listener: (packet: Packet) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * An mqtt-packet parser shared by every connection: it is only ever given whole packets, so
 * it holds nothing of one connection between calls. A parser per connection, with its
 * buffer list stream, cost about 1.5 KB of heap per idle client.
 */
class SharedDecoder {
  private readonly parser = createParser() as unknown as ParserState;
  private readonly mode: DecodeMode;
  private sink: PacketSink | undefined;

  constructor(mode: DecodeMode) {
    this.mode = mode;
    this.reset();
    this.parser.on('packet', (packet) => this.sink!.onPacket(packet));
    this.parser.on('error', (error) => this.sink!.onMalformed(error));
  }

  /** Decodes `bytes` for `sink`; false when the parser must not be used again (an exception, or a packet left open). */
  decode(bytes: Buffer, sink: PacketSink): boolean {
    this.sink = sink;
    const left = this.parser.parse(bytes);
    this.sink = undefined;
    this.reset(); // a CONNECT replaces the parser's settings with itself
    return left === 0 && (this.parser as unknown as { packet: { length: number } }).packet.length === -1;
  }

  private reset(): void {
    const version = this.mode >> 1;
    this.parser.settings = version === 0 ? {} : this.mode & 1 ? { protocolVersion: version, bridgeMode: true } : { protocolVersion: version };
  }
}

/** Idle decoders by mode: taken for one call, given back unless something went wrong. */
const idle: SharedDecoder[][] = [];

function decodeWith(mode: DecodeMode, bytes: Buffer, sink: PacketSink): void {
  const pool = (idle[mode] ??= []);
  const decoder = pool.pop() ?? new SharedDecoder(mode);
  // A throw from the sink (a broker bug) leaves the decoder mid-packet: it is dropped.
  if (decoder.decode(bytes, sink)) pool.push(decoder);
}

const CONNECT_TYPE = 1;
const HEADER_INCOMPLETE = -1;
const LENGTH_MALFORMED = -2;

/**
 * The whole size of the packet that starts at `offset`, as Maximum Packet Size counts it (the
 * type byte and the Remaining Length's own one to four bytes included, MQTT 5 3.2.2.3.6, 2.1.4);
 * HEADER_INCOMPLETE when its Remaining Length is not all there yet, LENGTH_MALFORMED when it
 * runs past four bytes (MQTT 1.5.5).
 */
function frameSize(data: Buffer, offset: number): number {
  let remaining = 0;
  for (let i = 0; i < 4; i++) {
    const at = offset + 1 + i;
    if (at >= data.length) return HEADER_INCOMPLETE;
    const byte = data[at]!;
    remaining += (byte & 0x7f) * 128 ** i;
    if ((byte & 0x80) === 0) return 1 + (i + 1) + remaining;
  }
  return LENGTH_MALFORMED;
}

/**
 * Frames one connection's bytes into whole MQTT packets and decodes them with a shared
 * parser. Between packets it keeps nothing; within one, only the chunks received so far.
 */
export class PacketReader {
  private readonly sink: PacketSink;
  private readonly maxPacketSize: number;
  /** Chunks holding the start of a packet not yet whole, and how many bytes they hold. */
  private partial: Buffer[] | undefined;
  private partialBytes = 0;
  /** The size of that packet once its fixed header is in; until then 0. */
  private awaited = 0;
  mode: DecodeMode = BEFORE_CONNECT;

  constructor(sink: PacketSink, maxPacketSize: number) {
    this.sink = sink;
    this.maxPacketSize = maxPacketSize;
  }

  read(chunk: Buffer): void {
    let data = chunk;
    if (this.partial) {
      this.partial.push(chunk);
      this.partialBytes += chunk.length;
      if (this.partialBytes < this.awaited) return;
      data = Buffer.concat(this.partial, this.partialBytes);
      this.partial = undefined;
      this.partialBytes = 0;
      this.awaited = 0;
    }
    this.frame(data);
  }

  private frame(data: Buffer): void {
    let start = 0; // first byte not yet decoded
    let offset = 0;
    while (offset < data.length) {
      const size = frameSize(data, offset);
      if (size === LENGTH_MALFORMED) {
        // The parser reports it as it always has, after the packets before it.
        this.decode(data.subarray(start));
        return;
      }
      if (size !== HEADER_INCOMPLETE && size > this.maxPacketSize) {
        this.decode(data.subarray(start, offset));
        this.sink.onTooLarge(size, offset + size <= data.length);
        return;
      }
      if (size === HEADER_INCOMPLETE || offset + size > data.length) {
        this.decode(data.subarray(start, offset));
        this.keep(data.subarray(offset), size === HEADER_INCOMPLETE ? 0 : size);
        return;
      }
      offset += size;
      // The packets after a CONNECT are decoded in the version it announces.
      if (data[offset - size]! >> 4 === CONNECT_TYPE) {
        this.decode(data.subarray(start, offset));
        start = offset;
      }
    }
    this.decode(data.subarray(start, offset));
  }

  /** The start of an unfinished packet: a header with a bad first byte fails now, as the parser does. */
  private keep(bytes: Buffer, size: number): void {
    if (!firstByteValid(bytes[0]!)) {
      this.decode(bytes);
      return;
    }
    this.partial = [bytes];
    this.partialBytes = bytes.length;
    this.awaited = size;
  }

  private decode(bytes: Buffer): void {
    if (bytes.length > 0) decodeWith(this.mode, bytes, this.sink);
  }
}

/** Header flags fixed by the packet type (MQTT 2.1.3) and QoS not 3, as mqtt-packet checks them. */
function firstByteValid(byte: number): boolean {
  const type = byte >> 4;
  const flags = byte & 0x0f;
  if (type === 0) return true; // reserved: refused once whole ('Not supported')
  if (type === 3) return ((flags >> 1) & 3) !== 3;
  if (type === 6 || type === 8 || type === 10) return flags === 2;
  return flags === 0;
}
