import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ReasonCode } from '@roost/protocol';
import type { Admission } from './channel.ts';
import { ConnectRateLimiter } from './connect-rate.ts';
import { Connection, type ConnectionHost } from './connection.ts';
import { pace, type DrainOptions } from './drain.ts';
import { connectionInfo, formatRemote, type ConnectionInfo } from './connection-info.ts';
import { openKind } from './listeners/kinds.ts';
import { proxyProtocolPrelude } from './listeners/proxy-prelude.ts';
import { ListenerError, type BoundListener, type ListenerKind, type ListenerSpec, type Prelude } from './listeners/spec.ts';
import type { Logger } from './options.ts';
import type { BrokerStats } from './stats.ts';

export interface ListenerOptions {
  /** Open connections this node takes; more are refused at CONNECT. Undefined: no limit. */
  maxConnections?: number | undefined;
  /** New connections per second per address; more are refused at CONNECT (0x9F). Undefined: no limit. */
  maxConnectRate?: number | undefined;
}

/** A socket accepted but not yet a Connection: its PROXY header, TLS handshake or WebSocket upgrade is under way. */
interface Unready {
  listener: string;
  openedAt: number;
  abort: AbortController | undefined;
}

interface Opened {
  server: Server;
  kind: ListenerKind;
}

/**
 * The node's listening sockets, of every kind, and every open connection, CONNECTed or not:
 * accepts them, runs the pre-MQTT stages, enforces the CONNECT deadline, keep alive and the
 * connection limit with one sweep, and closes them all on shutdown.
 */
export class Listener {
  private readonly host: ConnectionHost;
  private readonly stats: BrokerStats;
  private readonly options: ListenerOptions;
  private readonly opened: Opened[] = [];
  private readonly unready = new Map<Socket, Unready>();
  private readonly open = new Set<Connection>();
  /** Open connections per listener name, for /metrics. */
  readonly connectionsByListener = new Map<string, number>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly connectRate: ConnectRateLimiter | undefined;
  /** Set by a drain that sends clients elsewhere (ROOST_DRAIN_SERVER_REFERENCE). */
  private serverReference: string | undefined;

  constructor(host: ConnectionHost, stats: BrokerStats, options: ListenerOptions = {}) {
    this.host = host;
    this.stats = stats;
    this.options = options;
    if (options.maxConnectRate !== undefined) this.connectRate = new ConnectRateLimiter(options.maxConnectRate);
  }

  /** Opens every listener, or none: one that fails closes those opened before it. */
  async listen(specs: readonly ListenerSpec[]): Promise<BoundListener[]> {
    const bound: BoundListener[] = [];
    try {
      for (const spec of specs) bound.push(await this.listenOne(spec));
    } catch (error) {
      await this.closeServers();
      throw error;
    }
    if (!this.sweepTimer) {
      // One sweep for all connections instead of a timer each.
      this.sweepTimer = setInterval(() => this.sweep(), 500);
      this.sweepTimer.unref();
    }
    return bound;
  }

  private async listenOne(spec: ListenerSpec): Promise<BoundListener> {
    const kind = await openKind(spec, { log: this.host.log, stats: this.stats, limits: this.host.ctx.limits });
    const prelude = preludeOf(spec, this.host.log, this.stats);
    // TCP_NODELAY set by the server on accept: a JS call per connection less than setNoDelay.
    // A prelude reads the socket first, so it starts paused.
    const server = createServer({ noDelay: true, pauseOnConnect: prelude !== undefined }, (socket) => this.accept(spec, kind, prelude, socket));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(spec.port, spec.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      kind.close();
      throw new ListenerError(spec.name, `cannot listen on ${spec.host}:${spec.port}: ${(error as Error).message}`);
    }
    this.opened.push({ server, kind });
    this.connectionsByListener.set(spec.name, 0);
    const address = server.address();
    return { name: spec.name, kind: spec.kind, port: typeof address === 'object' && address ? address.port : spec.port };
  }

  private accept(spec: ListenerSpec, kind: ListenerKind, prelude: Prelude | undefined, socket: Socket): void {
    this.stats.connectionsAccepted++;
    const info = connectionInfo({ listener: spec.name, remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, tls: undefined });
    if (spec.kind === 'tcp' && prelude === undefined) {
      this.connect(socket, info); // the common case costs no bookkeeping
      return;
    }
    const unready: Unready = { listener: spec.name, openedAt: Date.now(), abort: prelude && new AbortController() };
    this.unready.set(socket, unready);
    socket.on('error', () => socket.destroy()); // the kind's own stream reports what matters
    socket.once('close', () => this.unready.delete(socket));
    const ready = (stream: Duplex, completed: ConnectionInfo) => {
      this.unready.delete(socket);
      if (!socket.destroyed) this.connect(stream, completed);
    };
    if (!prelude) {
      kind.upgrade(socket, info, ready);
      return;
    }
    prelude(socket, { info, signal: unready.abort!.signal }).then(
      (result) => {
        if (socket.destroyed) return;
        if (result.leftover && result.leftover.length > 0) socket.unshift(result.leftover);
        kind.upgrade(socket, result.info ? connectionInfo({ ...info, ...result.info }) : info, ready);
      },
      () => socket.destroy(),
    );
  }

  private connect(stream: Duplex, info: ConnectionInfo): void {
    this.open.add(new Connection(stream, info, this.host, this.admission(info)));
    this.connectionsByListener.set(info.listener, (this.connectionsByListener.get(info.listener) ?? 0) + 1);
  }

  /**
   * Whether the node takes a new connection; a refused one is still read, so that its CONNECT
   * can be answered with the reason. The address is the PROXY header's when there is one.
   */
  private admission(info: ConnectionInfo): Admission {
    const { maxConnections } = this.options;
    if (maxConnections !== undefined && this.open.size >= maxConnections) {
      this.stats.connectionsOverLimit++;
      return 'connection-limit';
    }
    if (this.connectRate && !this.connectRate.admit(info.remoteAddress, Date.now())) {
      this.stats.countLimit('connect_rate');
      return 'connect-rate';
    }
    return 'admitted';
  }

  /** The connection closed: it is no longer swept or told about shutdown. */
  closed(connection: Connection): void {
    if (!this.open.delete(connection)) return;
    const name = connection.info.listener;
    this.connectionsByListener.set(name, (this.connectionsByListener.get(name) ?? 1) - 1);
  }

  /**
   * Stops accepting, so that clients let go reconnect to other nodes, then disconnects the
   * clients at the drain's rate; resolves when none is left (close() ends the node after).
   */
  async drain(options: DrainOptions): Promise<void> {
    this.serverReference = options.serverReference;
    const closing = this.closeServers();
    for (const socket of [...this.unready.keys()]) socket.destroy();
    const release = (count: number) => {
      let released = 0;
      for (const connection of this.open) {
        if (released === count) break;
        this.farewell(connection);
        released++;
      }
      return released;
    };
    await pace(release, () => this.open.size, options);
    await closing;
  }

  /**
   * Stops accepting and tells every client the server is shutting down, at once; resolves
   * when the servers have closed.
   */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    const closing = this.closeServers();
    for (const socket of [...this.unready.keys()]) socket.destroy();
    for (const connection of [...this.open]) this.farewell(connection);
    await closing;
  }

  /** v5: DISCONNECT 0x8B, or 0x9C with the drain's Server Reference (§4.11); v3: closed. */
  private farewell(connection: Connection): void {
    if (this.serverReference === undefined) connection.disconnect(ReasonCode.ServerShuttingDown, 'server shutting down');
    else connection.disconnect(ReasonCode.UseAnotherServer, 'server shutting down; use another server', this.serverReference);
  }

  private async closeServers(): Promise<void> {
    const opened = this.opened.splice(0);
    for (const { kind } of opened) kind.close();
    await Promise.all(opened.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  /** Keep alive at 1.5x [MQTT-3.1.2-22], and the CONNECT deadline for silent sockets and unfinished pre-MQTT stages. */
  private sweep(): void {
    const now = Date.now();
    const connectDeadline = this.host.ctx.limits.connectTimeout * 1000;
    for (const [socket, unready] of this.unready) {
      if (now - unready.openedAt <= connectDeadline) continue;
      this.unready.delete(socket);
      this.stats.setupTimeouts++;
      this.host.log.info({ listener: unready.listener, remote: formatRemote(socket.remoteAddress, socket.remotePort) }, 'closing: connection set-up (PROXY header, TLS handshake, WebSocket upgrade) not done in time');
      unready.abort?.abort();
      socket.destroy();
    }
    for (const connection of this.open) {
      const { channel } = connection;
      if (channel.state === 'awaiting-connect' && now - connection.openedAt > connectDeadline) {
        connection.fail(ReasonCode.MaximumConnectTime, 'no CONNECT in time');
      } else if (channel.authenticationOverdue(now, connectDeadline)) {
        // An AUTH exchange (CONNECT's or a re-authentication) has the CONNECT's time to end.
        connection.fail(ReasonCode.NotAuthorized, 'authentication not completed in time');
      } else if (channel.keepAlive > 0 && !connection.readingPaused && now - connection.lastActivity > channel.keepAlive * 1500) {
        connection.disconnect(ReasonCode.KeepAliveTimeout, 'keep alive timeout');
      }
    }
  }
}

function preludeOf(spec: ListenerSpec, log: Logger, stats: BrokerStats): Prelude | undefined {
  if (spec.prelude) return spec.prelude;
  // A PROXY listener requires the header: the spec forbids guessing whether one is there.
  return spec.proxyProtocol ? proxyProtocolPrelude({ log, stats }) : undefined;
}
