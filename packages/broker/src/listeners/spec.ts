import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionInfo } from '../connection-info.ts';
import type { BrokerLimits, Logger } from '../options.ts';
import type { BrokerStats } from '../stats.ts';

export type ListenerKindName = 'tcp' | 'tls' | 'ws' | 'wss';

/** Certificate files and policy of a `tls` or `wss` listener; the files are reloaded when they change. */
export interface TlsSettings {
  certFile: string;
  keyFile: string;
  /** CA bundle that client certificates are verified against. */
  caFile?: string;
  /** `request`: a client may present a certificate (a bad one is refused); `require`: it must. */
  clientCert: 'none' | 'request' | 'require';
  /** e.g. `TLSv1.2`. */
  minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list; undefined keeps Node's default. */
  ciphers?: string;
}

/** One listening socket of the node. */
export interface ListenerSpec {
  /** Names the listener in logs, metrics and ConnectionInfo: `mqtt`, `tls`, `ws`, `wss`. */
  name: string;
  kind: ListenerKindName;
  host: string;
  /** 0 picks a free port (see BoundListener.port). */
  port: number;
  /** Every connection must open with a PROXY protocol header (v1 or v2). */
  proxyProtocol: boolean;
  /** Required for `tls` and `wss`. */
  tls?: TlsSettings;
  /** WebSocket path for `ws` and `wss`; default `/mqtt`. */
  path?: string;
  /** A pre-MQTT stage of its own (tests, embedding); `proxyProtocol` supplies the PROXY one. */
  prelude?: Prelude;
}

export interface BoundListener {
  name: string;
  kind: ListenerKindName;
  port: number;
}

/**
 * What a pre-MQTT stage found: fields that replace what the socket itself says (the client's
 * address from a PROXY header, the TLS identity its TLVs carry) and the bytes it read past its
 * own, which the listener puts back in front of the stream before TLS, WebSocket or MQTT.
 */
export interface PreludeResult {
  info?: Partial<Pick<ConnectionInfo, 'remoteAddress' | 'remotePort' | 'tls'>>;
  leftover?: Buffer;
}

/**
 * A stage that runs on the raw TCP socket before anything else reads it, such as the PROXY
 * header reader. It gets the socket paused and must leave it paused, with no 'data' listener
 * of its own, when it resolves. A rejection closes that socket alone; the stage logs and counts
 * its own failures. `signal` aborts at the CONNECT deadline, after which the socket is destroyed.
 */
export type Prelude = (socket: Socket, context: PreludeContext) => Promise<PreludeResult>;

export interface PreludeContext {
  /** The listener name and the socket's own address. */
  info: ConnectionInfo;
  signal: AbortSignal;
}

/**
 * How one kind of listener turns a raw socket, its prelude done, into the MQTT byte stream:
 * `tcp` at once, `tls` after the handshake, `ws` after the HTTP upgrade. It calls `ready` once
 * with the stream and the info, completed with what it learned (the TLS identity), or destroys
 * the socket. After a prelude the socket comes paused, with the bytes read past the header
 * unshifted onto it: the kind's consumer must read those first (tls.Server does so itself, and
 * must not be preceded by a resume, which would emit them to no listener).
 */
export interface ListenerKind {
  upgrade(socket: Duplex, info: ConnectionInfo, ready: (stream: Duplex, info: ConnectionInfo) => void): void;
  /** Releases what the kind holds beside its sockets (file watchers). */
  close(): void;
}

/** What a listener kind may use of the node. */
export interface KindContext {
  log: Logger;
  stats: BrokerStats;
  limits: BrokerLimits;
}

/** A listener that cannot start: a port in use, an unreadable certificate. */
export class ListenerError extends Error {
  override readonly name = 'ListenerError';
  readonly listener: string;

  constructor(listener: string, message: string) {
    super(`listener ${listener}: ${message}`);
    this.listener = listener;
  }
}
