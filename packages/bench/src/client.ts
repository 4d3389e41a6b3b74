// One raw MQTT connection: a net socket, one mqtt-packet parser framing what the broker
// sends, and writes of pre-encoded buffers. No MQTT client library, no per-message encode.
import { readFileSync } from 'node:fs';
import { connect as netConnect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { parser as createParser, type Packet } from 'mqtt-packet';
import { createWebSocketStream, WebSocket } from 'ws';
import { connectPacket, DISCONNECT, subscribePacket, type Credentials, type QoS } from './packets.ts';

export type Transport = 'tcp' | 'tls' | 'ws' | 'wss';

/** Where to connect and over what; plain data, as it travels to the worker processes. */
export interface BrokerAddress {
  host: string;
  port: number;
  /** Undefined: plain TCP. */
  transport?: Transport;
  /** PEM CA bundle that the broker's certificate is verified against (tls, wss); unset: the system's. */
  caFile?: string;
  /** WebSocket path (ws, wss). */
  path?: string;
  /** Sent in every CONNECT. */
  credentials?: Credentials;
}

export interface TransportOptions {
  /** --tls: TLS over the URL's TCP or WebSocket. */
  tls?: boolean;
  /** --ws: WebSocket instead of raw TCP. */
  ws?: boolean;
  caFile?: string;
  credentials?: Credentials;
}

export class BenchError extends Error {
  override readonly name = 'BenchError';
}

const SCHEMES: Record<string, Transport> = { 'mqtt:': 'tcp', 'tcp:': 'tcp', 'mqtts:': 'tls', 'ssl:': 'tls', 'tls:': 'tls', 'ws:': 'ws', 'wss:': 'wss' };
const DEFAULT_PORTS: Record<Transport, number> = { tcp: 1883, tls: 8883, ws: 80, wss: 443 };

/**
 * `mqtt://host:port` (or `tcp://`, bare `host:port`, `mqtts://`, `ws://host:port/mqtt`,
 * `wss://`) to an address; --tls and --ws turn a plain URL into its TLS or WebSocket form.
 */
export function parseBrokerUrl(url: string, options: TransportOptions = {}): BrokerAddress {
  const parsed = new URL(url.includes('://') ? url : `mqtt://${url}`);
  let transport = SCHEMES[parsed.protocol];
  if (!transport) throw new BenchError(`unsupported URL scheme ${parsed.protocol} (${Object.keys(SCHEMES).join(' ')})`);
  const secure = options.tls === true || transport === 'tls' || transport === 'wss';
  const web = options.ws === true || transport === 'ws' || transport === 'wss';
  transport = web ? (secure ? 'wss' : 'ws') : secure ? 'tls' : 'tcp';
  const address: BrokerAddress = { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: parsed.port === '' ? DEFAULT_PORTS[transport] : Number(parsed.port) };
  if (transport !== 'tcp') address.transport = transport;
  // mqtt:// is not a special scheme to URL: its empty path reads as ''.
  if (web) address.path = parsed.pathname === '/' || parsed.pathname === '' ? '/mqtt' : parsed.pathname;
  if (options.caFile !== undefined) address.caFile = options.caFile;
  if (options.credentials !== undefined) address.credentials = options.credentials;
  return address;
}

const caCache = new Map<string, Buffer>();
const caOf = (file: string | undefined) => {
  if (file === undefined) return undefined;
  let ca = caCache.get(file);
  if (!ca) caCache.set(file, (ca = readFileSync(file)));
  return ca;
};

/** The byte stream to the broker; each kind queues writes until it is up, so CONNECT can go at once. */
function openStream(address: BrokerAddress, localAddress: string | undefined): Duplex {
  const local = localAddress ? { localAddress } : {};
  switch (address.transport ?? 'tcp') {
    case 'tcp':
      return netConnect({ host: address.host, port: address.port, noDelay: true, ...local });
    case 'tls': {
      // SNI only for a name: an IP address as servername is refused by TLS (RFC 6066).
      const servername = isIP(address.host) === 0 ? address.host : undefined;
      const stream = tlsConnect({ host: address.host, port: address.port, ca: caOf(address.caFile), servername, ...local });
      stream.setNoDelay(true);
      return stream;
    }
    case 'ws':
    case 'wss': {
      const scheme = address.transport === 'wss' ? 'wss' : 'ws';
      const host = isIP(address.host) === 6 ? `[${address.host}]` : address.host;
      const ws = new WebSocket(`${scheme}://${host}:${address.port}${address.path ?? '/mqtt'}`, ['mqtt'], { ca: caOf(address.caFile), perMessageDeflate: false, ...local });
      return createWebSocketStream(ws);
    }
  }
}

export interface OpenOptions {
  clean?: boolean;
  timeoutMs?: number;
  keepAliveS?: number;
  /** Source address (one loopback address has ~28k ephemeral ports towards one broker port). */
  localAddress?: string;
}

export type PacketHandler = (packet: Packet, conn: BenchConnection) => void;

export class BenchConnection {
  /** A TCP or TLS socket, or a WebSocket as a stream. */
  readonly socket: Duplex;
  readonly clientId: string;
  private readonly parser = createParser({ protocolVersion: 4 });
  /** Called for each packet after CONNACK; set through `setHandler` by the role that owns the connection. */
  onPacket: PacketHandler = () => {};
  /** Packets that arrived after CONNACK before a handler was set (a session's queue can follow CONNACK in the same read). */
  private early: Packet[] | undefined;
  /** Called once per socket read, after its packets were handled (a place to flush batched acks). */
  onReadDone: () => void = () => {};
  onClose: (error?: Error) => void = () => {};
  closing = false;

  private constructor(socket: Duplex, clientId: string) {
    this.socket = socket;
    this.clientId = clientId;
    this.parser.on('packet', (packet: Packet) => this.onPacket(packet, this));
    this.parser.on('error', (error: Error) => this.fail(new BenchError(`malformed packet from broker: ${error.message}`)));
  }

  /** Connects and resolves once CONNACK accepts; rejects on refusal, error or timeout. */
  static open(address: BrokerAddress, clientId: string, options: OpenOptions = {}): Promise<{ conn: BenchConnection; sessionPresent: boolean }> {
    const socket = openStream(address, options.localAddress);
    const conn = new BenchConnection(socket, clientId);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => conn.fail(new BenchError(`no CONNACK within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
      conn.onClose = (error) => {
        clearTimeout(timer);
        reject(error ?? new BenchError('connection closed before CONNACK'));
      };
      conn.onPacket = (packet) => {
        clearTimeout(timer);
        if (packet.cmd !== 'connack' || packet.returnCode !== 0) {
          conn.fail(new BenchError(`connect refused: ${packet.cmd} ${packet.cmd === 'connack' ? packet.returnCode : ''}`));
          return;
        }
        conn.onClose = () => {};
        conn.early = [];
        conn.onPacket = (next) => conn.early!.push(next);
        resolve({ conn, sessionPresent: packet.sessionPresent });
      };
      socket.on('data', (chunk: Buffer) => {
        conn.parser.parse(chunk);
        conn.onReadDone();
      });
      socket.on('error', (error) => conn.fail(error));
      socket.on('close', () => conn.fail());
      socket.write(connectPacket(clientId, options.clean ?? true, options.keepAliveS, address.credentials));
    });
  }

  /**
   * Installs the packet handler and hands it whatever arrived before, as one read (so set
   * `onReadDone` first: it flushes the acks those packets need).
   */
  setHandler(handler: PacketHandler): void {
    this.onPacket = handler;
    const early = this.early ?? [];
    this.early = undefined;
    for (const packet of early) handler(packet, this);
    if (early.length > 0) this.onReadDone();
  }

  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  /** Subscribes and resolves with the granted QoS; rejects on a failure return code (0x80). */
  subscribe(messageId: number, filter: string, qos: QoS, timeoutMs = 10_000): Promise<number> {
    const previous = this.onPacket;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.onPacket = previous;
        reject(new BenchError(`no SUBACK for ${filter} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.onPacket = (packet, conn) => {
        if (packet.cmd !== 'suback' || packet.messageId !== messageId) return previous(packet, conn);
        clearTimeout(timer);
        this.onPacket = previous;
        const granted = packet.granted[0];
        if (typeof granted !== 'number' || granted >= 0x80) reject(new BenchError(`subscription to ${filter} refused (${String(granted)})`));
        else resolve(granted);
      };
      this.write(subscribePacket(messageId, filter, qos));
    });
  }

  /** A clean DISCONNECT, then waits for the socket to close (bounded). */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.socket.destroyed) return;
    this.closing = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end(DISCONNECT);
    });
  }

  /** Drops the TCP connection without DISCONNECT. */
  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private closed = false;
  private fail(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(this.closing ? undefined : (error ?? new BenchError(`broker closed the connection of ${this.clientId}`)));
  }
}
