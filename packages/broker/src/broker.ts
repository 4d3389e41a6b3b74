import { createServer, type Server, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Packet } from 'mqtt-packet';
import { ReasonCode, isExpired, type Message, type QoS, type SubscriptionOptions } from '@roost/protocol';
import {
  MemoryRetainedStore,
  MemorySessionStore,
  NEVER_EXPIRES,
  Session,
  type Delivery,
  type RetainedStore,
  type SessionStore,
} from '@roost/session';
import type { Action, AttachRequest } from './actions.ts';
import type { ChannelContext, Will } from './channel.ts';
import { Connection, type ConnectionHost } from './connection.ts';
import type { BrokerOptions, ListenOptions, Logger } from './options.ts';
import { Router } from './router.ts';
import { BrokerStats } from './stats.ts';
import { sysMessages } from './sys-topics.ts';
import { KeyedTimers } from './timers.ts';

export interface BrokerStores {
  sessions: SessionStore;
  retained: RetainedStore;
}

/**
 * One node's broker: accepts connections, resolves sessions, routes messages to local
 * subscribers and keeps retained messages, wills and session expiry.
 */
export class Broker implements ConnectionHost {
  readonly ctx: ChannelContext;
  readonly log: Logger;
  readonly stats = new BrokerStats();
  readonly router = new Router();
  private readonly options: BrokerOptions;
  private readonly sessions: SessionStore;
  private readonly retained: RetainedStore;
  private readonly connections = new Map<string, Connection>();
  private readonly sockets = new Set<Connection>();
  private readonly wills = new KeyedTimers();
  private readonly pendingWills = new Map<string, Will>();
  private readonly expiries = new KeyedTimers();
  /** CONNECTs for one client id are resolved one after another, so exactly one wins. */
  private readonly attaching = new Map<string, Promise<void>>();
  private readonly servers: Server[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private sysTimer: NodeJS.Timeout | undefined;

  constructor(options: BrokerOptions, stores?: BrokerStores) {
    this.options = options;
    this.log = options.logger;
    this.sessions = stores?.sessions ?? new MemorySessionStore();
    this.retained = stores?.retained ?? new MemoryRetainedStore();
    this.ctx = {
      limits: options.limits,
      now: Date.now,
      assignClientId: () => `roost-${randomUUID()}`,
    };
  }

  get clientCount(): number {
    return this.connections.size;
  }

  async listen(options: ListenOptions): Promise<{ port: number }> {
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.servers.push(server);
    this.startTimers();
    const address = server.address();
    return { port: typeof address === 'object' && address ? address.port : options.port };
  }

  /** Stops accepting, tells every client the server is shutting down, and closes. */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    clearInterval(this.sysTimer);
    const closing = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const connection of [...this.sockets]) connection.disconnect(ReasonCode.ServerShuttingDown, 'server shutting down');
    this.wills.clear();
    this.expiries.clear();
    await Promise.all(closing);
  }

  private startTimers(): void {
    if (this.sweepTimer) return;
    // One sweep for all connections instead of a timer each.
    this.sweepTimer = setInterval(() => this.sweep(), 500);
    this.sweepTimer.unref();
    if (this.options.sysInterval > 0) {
      this.sysTimer = setInterval(() => void this.publishSys(), this.options.sysInterval * 1000);
      this.sysTimer.unref();
      void this.publishSys();
    }
  }

  accept(socket: Socket): void {
    this.stats.connectionsAccepted++;
    const connection = new Connection(socket, this);
    this.sockets.add(connection);
  }

  /** Keep alive at 1.5x [MQTT-3.1.2-24], and the CONNECT deadline for silent sockets. */
  private sweep(): void {
    const now = Date.now();
    const connectDeadline = this.ctx.limits.connectTimeout * 1000;
    for (const connection of this.sockets) {
      const { channel } = connection;
      if (channel.state === 'awaiting-connect' && now - connection.openedAt > connectDeadline) {
        connection.fail(ReasonCode.MaximumConnectTime, 'no CONNECT in time');
      } else if (channel.keepAlive > 0 && now - connection.lastActivity > channel.keepAlive * 1500) {
        connection.disconnect(ReasonCode.KeepAliveTimeout, 'keep alive timeout');
      }
    }
  }

  private async publishSys(): Promise<void> {
    const retained = await this.retained.count().catch(() => -1);
    const messages = sysMessages({
      version: this.options.version,
      stats: this.stats,
      clientsConnected: this.connections.size,
      subscriptions: this.router.subscriptionCount,
      retained,
      now: Date.now(),
    });
    for (const message of messages) this.publish(message);
  }

  execute(connection: Connection, action: Action): void {
    switch (action.type) {
      case 'attach':
        this.attach(connection, action.request);
        break;
      case 'publish':
        this.stats.messagesReceived++;
        this.publish(action.message);
        break;
      case 'subscribe':
        this.subscribe(connection, action.filter, action.options, action.sendRetained);
        break;
      case 'unsubscribe':
        this.router.remove(connection.clientId, action.filter);
        break;
      case 'send':
      case 'close':
        connection.run([action]);
        break;
      default:
        assertNever(action);
    }
  }

  private attach(connection: Connection, request: AttachRequest): void {
    const { clientId } = request;
    const previous = this.attaching.get(clientId) ?? Promise.resolve();
    const next = previous
      .then(() => this.resolveSession(connection, request))
      .catch((error: unknown) => {
        this.log.error({ err: error, clientId }, 'session resolution failed');
        connection.disconnect(ReasonCode.ServerUnavailable, 'session store unavailable');
      })
      .finally(() => {
        if (this.attaching.get(clientId) === next) this.attaching.delete(clientId);
      });
    this.attaching.set(clientId, next);
  }

  private async resolveSession(connection: Connection, request: AttachRequest): Promise<void> {
    if (connection.closed) return;
    const { clientId } = request;
    // [MQTT-3.1.4-3] a client id already connected: the older connection is taken over.
    this.connections.get(clientId)?.disconnect(ReasonCode.SessionTakenOver, 'another connection took over the session');
    let session = await this.sessions.get(clientId);
    if (connection.closed) return;
    if (session && request.cleanStart) {
      await this.endSession(session); // [MQTT-3.1.2-4] Clean Start discards the old session
      session = undefined;
    } else {
      this.cancelWill(clientId); // [MQTT-3.1.3-9] reconnecting in time cancels a delayed will
    }
    const present = session !== undefined; // [MQTT-3.2.2-2/3]
    session ??= new Session(clientId, request.sessionExpiry);
    session.expiryInterval = request.sessionExpiry;
    session.disconnectedAt = undefined;
    this.expiries.cancel(clientId);
    await this.sessions.put(session);
    if (connection.closed) return;
    this.connections.set(clientId, connection);
    this.log.debug({ clientId, sessionPresent: present }, 'client connected');
    connection.attached(connection.channel.attached(session, present));
  }

  detach(connection: Connection): void {
    this.sockets.delete(connection);
    const { clientId, channel } = connection;
    if (this.connections.get(clientId) !== connection) return;
    this.connections.delete(clientId);
    const session = channel.session!;
    session.disconnectedAt = Date.now();
    const will = channel.will;
    if (session.expiryInterval === 0) {
      void this.endSession(session);
    } else {
      void this.sessions.put(session);
      if (session.expiryInterval !== NEVER_EXPIRES) {
        this.expiries.set(clientId, session.expiryInterval * 1000, () => void this.expireSession(clientId));
      }
    }
    if (will) this.scheduleWill(clientId, will, Math.min(will.delaySeconds, session.expiryInterval));
  }

  private scheduleWill(clientId: string, will: Will, delaySeconds: number): void {
    if (delaySeconds === 0) {
      this.publishWill(will);
      return;
    }
    this.pendingWills.set(clientId, will);
    this.wills.set(clientId, delaySeconds * 1000, () => {
      this.pendingWills.delete(clientId);
      this.publishWill(will);
    });
  }

  private cancelWill(clientId: string): void {
    this.wills.cancel(clientId);
    this.pendingWills.delete(clientId);
  }

  /** The session ended: a will still waiting on its delay goes out now (MQTT 5 3.1.3.2.2). */
  private flushWill(clientId: string): void {
    const will = this.pendingWills.get(clientId);
    if (!will) return;
    this.cancelWill(clientId);
    this.publishWill(will);
  }

  private publishWill(will: Will): void {
    const message: Message = { ...will.message };
    if (will.expirySeconds !== undefined) message.expiresAt = Date.now() + will.expirySeconds * 1000;
    this.log.debug({ clientId: message.origin, topic: message.topic }, 'publishing will');
    this.publish(message);
  }

  private async expireSession(clientId: string): Promise<void> {
    const session = await this.sessions.get(clientId);
    if (!session || session.disconnectedAt === undefined) return;
    this.log.debug({ clientId }, 'session expired');
    await this.endSession(session);
  }

  private async endSession(session: Session): Promise<void> {
    for (const filter of session.subscriptions.keys()) this.router.remove(session.clientId, filter);
    this.expiries.cancel(session.clientId);
    this.flushWill(session.clientId);
    await this.sessions.delete(session.clientId);
  }

  /** Routes a message to every matching session and keeps it if retained. */
  publish(message: Message): void {
    if (message.retain) this.retain(message);
    const deliveries = this.router.route(message, (id) => this.connections.has(id));
    for (const [clientId, delivery] of deliveries) {
      const connection = this.connections.get(clientId);
      if (connection) connection.deliver(delivery);
      else if (delivery.qos > 0) void this.queueOffline(clientId, delivery);
    }
  }

  private retain(message: Message): void {
    // [MQTT-3.3.1-6] an empty retained payload clears; [MQTT-3.3.1-5] otherwise it replaces.
    const done = message.payload.length === 0 ? this.retained.delete(message.topic) : this.retained.set({ ...message, origin: undefined });
    done.catch((error: unknown) => this.log.error({ err: error, topic: message.topic }, 'retained store failed'));
  }

  /** Offline persistent sessions keep QoS 1/2 messages [MQTT-3.1.2-5]; QoS 0 is not queued. */
  private async queueOffline(clientId: string, delivery: Delivery): Promise<void> {
    const { limits } = this.ctx;
    const dropped = await this.sessions.enqueue(clientId, delivery, limits);
    if (dropped) this.countDrop(clientId, 'offline queue overflow');
  }

  private subscribe(connection: Connection, filter: string, options: SubscriptionOptions, sendRetained: boolean): void {
    this.router.add(connection.clientId, filter, options);
    if (!sendRetained) return;
    this.retained
      .match(filter)
      .then((messages) => {
        const now = Date.now();
        for (const message of messages) {
          if (isExpired(message, now)) continue;
          const delivery: Delivery = { message, qos: Math.min(message.qos, options.qos) as QoS, retain: true }; // [MQTT-3.3.1-8]
          if (options.subscriptionId !== undefined) delivery.subscriptionIds = [options.subscriptionId];
          connection.deliver(delivery);
        }
      })
      .catch((error: unknown) => this.log.error({ err: error, filter }, 'retained lookup failed'));
  }

  countIn(_bytes: number, packet: Packet): void {
    this.stats.bytesReceived += (packet.length ?? 0) + 2;
  }

  countOut(bytes: number, packet: Packet): void {
    this.stats.bytesSent += bytes;
    if (packet.cmd === 'publish') this.stats.messagesSent++;
  }

  countProtocolError(): void {
    this.stats.protocolErrors++;
  }

  dropped(connection: Connection, _delivery: Delivery, why: string): void {
    this.countDrop(connection.clientId, why);
  }

  private countDrop(clientId: string, why: string): void {
    this.stats.messagesDropped++;
    // Logged at debug: under overflow this fires per message; the counter carries the rate.
    this.log.debug({ clientId, why }, 'message dropped');
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled action ${JSON.stringify(value)}`);
}

export function createBroker(options: BrokerOptions, stores?: BrokerStores): Broker {
  return new Broker(options, stores);
}
