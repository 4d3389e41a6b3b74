import { randomBytes, randomUUID } from 'node:crypto';
import type { Packet } from 'mqtt-packet';
import { ReasonCode, type Message, type SubscriptionOptions } from '@roost/protocol';
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
import type { ChannelContext } from './channel.ts';
import { ClusterNode, type BrokerCluster, type ClusterHost } from './cluster-node.ts';
import type { SharedDispatchOptions } from './cluster.ts';
import type { Connection, ConnectionHost } from './connection.ts';
import { Listener } from './listener.ts';
import type { BrokerOptions, ListenOptions, Logger } from './options.ts';
import { Retainer } from './retainer.ts';
import { Router } from './router.ts';
import { SessionKeeper } from './session-keeper.ts';
import { BrokerStats } from './stats.ts';
import { sysMessages } from './sys-topics.ts';
import { KeyedTimers } from './timers.ts';
import { WillKeeper } from './will-keeper.ts';

export interface BrokerStores {
  sessions: SessionStore;
  retained: RetainedStore;
}

/**
 * One node's broker: accepts connections, resolves sessions, routes messages to local
 * subscribers (and, in a cluster, to peers), keeps retained messages, wills and expiry.
 */
export class Broker implements ConnectionHost, ClusterHost {
  readonly ctx: ChannelContext;
  readonly log: Logger;
  readonly stats = new BrokerStats();
  readonly router = new Router();
  private readonly options: BrokerOptions;
  private readonly keeper: SessionKeeper;
  private readonly retainer: Retainer;
  /** CONNECTed clients by client id; `listener` has every open connection. */
  private readonly connections = new Map<string, Connection>();
  private readonly listener: Listener;
  private readonly wills: WillKeeper;
  private readonly expiries = new KeyedTimers();
  /** The directory epoch under which this node holds each session (cluster mode). */
  private readonly epochs = new Map<string, number>();
  /** CONNECTs for one client id are resolved one after another, so exactly one wins. */
  private readonly attaching = new Map<string, Promise<void>>();
  /** QoS 2 message ids: random per process, so a restarted node never reuses one. */
  private readonly messageIdPrefix = `${randomBytes(6).toString('base64url')}.`;
  private messageIdCounter = 0;
  /** One function for the router's per-message online checks, not a closure per message. */
  private readonly isOnline = (clientId: string): boolean => this.connections.has(clientId);
  private readonly cluster: ClusterNode | undefined;
  private sysTimer: NodeJS.Timeout | undefined;

  constructor(options: BrokerOptions, stores?: BrokerStores, cluster?: BrokerCluster) {
    this.options = options;
    this.log = options.logger;
    this.keeper = new SessionKeeper(stores?.sessions ?? new MemorySessionStore(), this.log, () => this.stats.sessionWriteFailures++);
    this.retainer = new Retainer(stores?.retained ?? new MemoryRetainedStore(), this.log);
    this.wills = new WillKeeper((message) => this.publishWill(message));
    this.cluster = cluster ? new ClusterNode(options.nodeId, cluster, this.log) : undefined;
    this.listener = new Listener(this, this.stats);
    this.ctx = {
      limits: options.limits,
      now: Date.now,
      assignClientId: () => `roost-${randomUUID()}`,
    };
  }

  get clientCount(): number {
    return this.connections.size;
  }

  /** Joins the cluster, if any; call before `listen`. */
  async start(): Promise<void> {
    await this.cluster?.start(this);
  }

  async listen(options: ListenOptions): Promise<{ port: number }> {
    const listening = await this.listener.listen(options);
    this.startSys();
    return listening;
  }

  /** Stops accepting, tells every client the server is shutting down, and leaves the cluster. */
  async stop(): Promise<void> {
    clearInterval(this.sysTimer);
    const closing = this.listener.close();
    await this.keeper.flushed().catch(() => undefined);
    this.wills.clear();
    this.expiries.clear();
    await closing;
    await this.cluster?.stop();
  }

  private startSys(): void {
    if (this.sysTimer || this.options.sysInterval <= 0) return;
    this.sysTimer = setInterval(() => void this.publishSys(), this.options.sysInterval * 1000);
    this.sysTimer.unref();
    void this.publishSys();
  }

  private async publishSys(): Promise<void> {
    const retained = await this.retainer.count().catch(() => -1);
    const messages = sysMessages({
      version: this.options.version,
      stats: this.stats,
      clientsConnected: this.connections.size,
      subscriptions: this.router.subscriptionCount,
      retained,
      now: Date.now(),
    });
    for (const message of messages) {
      void this.retainer.retain(message);
      this.deliverLocal(message, true);
    }
  }

  /** Runs a broker-side action; a returned promise holds back the connection's later actions. */
  execute(connection: Connection, action: Action): Promise<unknown> | void {
    switch (action.type) {
      case 'attach':
        this.attach(connection, action.request);
        return;
      case 'publish':
        this.stats.messagesReceived++;
        return this.publishFromClient(connection, action.message, action.qos2PacketId);
      case 'subscribe':
        return this.subscribe(connection, action.filter, action.options);
      case 'send-retained':
        return this.retainer.replay(connection, action.filter, action.options);
      case 'unsubscribe':
        return this.unsubscribe(connection.clientId, action.filter);
      case 'persist': {
        const session = connection.channel.session;
        if (session) this.keeper.touch(session);
        return this.keeper.pending ? this.keeper.flushed() : undefined;
      }
      case 'send':
      case 'close':
        connection.run([action]);
        return;
      default:
        return assertNever(action);
    }
  }

  /** The connection's session changed (acks, subscriptions): persist it on the next flush. */
  touched(connection: Connection): void {
    const session = connection.channel.session;
    if (session) this.keeper.touch(session);
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
    // [MQTT-3.1.4-3] a client id already connected here: the older connection is taken over.
    this.connections.get(clientId)?.disconnect(ReasonCode.SessionTakenOver, 'another connection took over the session');
    const claimed = await this.claimAndLoad(clientId, request.cleanStart);
    const { epoch } = claimed;
    let { session } = claimed;
    if (connection.closed) return;
    if (session && request.cleanStart) {
      await this.endSession(session, false); // [MQTT-3.1.2-4] Clean Start discards the old session
      session = undefined;
    } else {
      this.wills.cancel(clientId); // [MQTT-3.1.3-9] reconnecting in time cancels a delayed will
    }
    const present = session !== undefined; // [MQTT-3.2.2-2/3]
    session ??= new Session(clientId, request.sessionExpiry);
    session.expiryInterval = request.sessionExpiry;
    session.disconnectedAt = undefined;
    this.expiries.cancel(clientId);
    if (!this.keeper.held.has(clientId)) await this.registerSubscriptions(session);
    // Independent writes and the fence check go out together: one round trip, not three.
    const will = connection.channel.will;
    const [, , holds] = await Promise.all([
      this.keeper.hold(session),
      this.cluster && (will ? this.cluster.ports.wills.set(clientId, will) : this.cluster.ports.wills.delete(clientId)),
      // Fencing: a later CONNECT elsewhere claimed the client meanwhile; that one wins.
      epoch === undefined || this.cluster!.ports.directory.holds(clientId, epoch),
    ]);
    if (!holds) {
      connection.disconnect(ReasonCode.SessionTakenOver, 'another connection took over the session');
      return;
    }
    if (connection.closed) return;
    this.connections.set(clientId, connection);
    this.log.debug({ clientId, sessionPresent: present }, 'client connected');
    connection.attached(connection.channel.attached(session, present));
  }

  /**
   * The client's session, if any; in cluster mode, the client id claimed first and taken from
   * whichever node held it. The stored session is read while the claim is made: when no other
   * node held the client that read stands (a claim made elsewhere after it fails the fence
   * check); when one did, the session is read again after that node handed it over.
   */
  private async claimAndLoad(clientId: string, cleanStart: boolean): Promise<{ epoch?: number; session?: Session }> {
    if (!this.cluster) return { session: await this.keeper.load(clientId) };
    const loading = this.keeper.load(clientId);
    loading.catch(() => undefined); // awaited below or superseded; never an unhandled rejection
    const { epoch, previous } = await this.cluster.ports.directory.claim(clientId, this.options.nodeId);
    this.epochs.set(clientId, epoch);
    if (previous === undefined || previous === this.options.nodeId) return { epoch, session: await loading };
    await this.takeOver(previous, clientId, epoch, cleanStart);
    return { epoch, session: await this.keeper.load(clientId) };
  }

  private async takeOver(previous: string, clientId: string, epoch: number, cleanStart: boolean): Promise<void> {
    if (!(await this.cluster!.takeover(previous, clientId, epoch))) {
      // The holder died with the client connected and no reaper has run yet: the old
      // connection ended without DISCONNECT, so its will is due now, unless it was delayed
      // and this CONNECT resumes the session in time [MQTT-3.1.3-9].
      const will = await this.cluster!.ports.wills.take(clientId);
      if (will && (will.delaySeconds === 0 || cleanStart)) this.publishWill(will.message);
    }
  }

  /** A session resumed from the store: its subscriptions route to this node from now on. */
  private async registerSubscriptions(session: Session): Promise<void> {
    const routes: Promise<void>[] = [];
    for (const [filter, options] of session.subscriptions) {
      if (this.router.add(session.clientId, filter, options) && this.cluster) routes.push(this.cluster.routeAdded(filter));
    }
    await Promise.all(routes);
  }

  detach(connection: Connection): void {
    this.listener.closed(connection);
    const { clientId, channel } = connection;
    if (this.connections.get(clientId) !== connection) return;
    this.connections.delete(clientId);
    const session = channel.session!;
    session.disconnectedAt = Date.now();
    const will = channel.will;
    void this.handBackShared(session);
    if (session.expiryInterval === 0) {
      void this.endSession(session, true);
    } else {
      this.keeper.touch(session);
      if (session.expiryInterval !== NEVER_EXPIRES) {
        this.expiries.set(clientId, session.expiryInterval * 1000, () => void this.expireSession(clientId));
      }
    }
    if (will) this.wills.schedule(clientId, will, Math.min(will.delaySeconds, session.expiryInterval));
    else if (this.cluster) void this.cluster.ports.wills.delete(clientId).catch(() => undefined);
  }

  private async expireSession(clientId: string): Promise<void> {
    const session = this.keeper.held.get(clientId);
    if (!session || session.disconnectedAt === undefined) return;
    this.log.debug({ clientId }, 'session expired');
    await this.endSession(session, true);
  }

  /**
   * A shared-subscription member went offline holding messages it never received: each goes
   * to another member of its group, on any node (MQTT 5 4.8.2 asks this when the session
   * ends; operators expect it as soon as the member leaves). A message is forgotten here only
   * after another member's node took it (persisted), so a crash in between can duplicate a
   * message, never lose it. What no other member takes stays queued in this session.
   */
  private async handBackShared(session: Session): Promise<void> {
    const unreceived = session.unreceivedShared();
    if (unreceived.length === 0) return;
    const taken = new Set<Delivery>();
    for (const delivery of unreceived) {
      if (session.disconnectedAt === undefined) break; // the member is back: it gets the rest itself
      try {
        if (await this.redispatchShared(delivery, session.clientId)) taken.add(delivery);
      } catch (error) {
        this.log.warn({ err: error, clientId: session.clientId }, 'handing a shared message back failed; it stays queued');
      }
    }
    if (taken.size === 0) return;
    session.forget(taken);
    this.keeper.touch(session);
    this.stats.sharedHandedBack += taken.size;
    this.log.info({ clientId: session.clientId, messages: taken.size }, 'shared messages handed to other members');
  }

  private async redispatchShared(delivery: Delivery, leaving: string): Promise<boolean> {
    const { group, filter } = delivery.shared!;
    if (this.cluster) return this.cluster.redispatchShared(delivery.shared!, delivery.message, leaving);
    return this.onSharedDispatch(group, filter, delivery.message, { exclude: leaving });
  }

  /** The session ends: routes go, a waiting will goes out, the directory forgets it. */
  private async endSession(session: Session, releaseClaim: boolean): Promise<void> {
    const { clientId } = session;
    await Promise.all([...session.subscriptions.keys()].map((filter) => this.unsubscribe(clientId, filter)));
    this.expiries.cancel(clientId);
    this.wills.flush(clientId);
    await this.keeper.drop(clientId);
    const epoch = this.epochs.get(clientId);
    if (this.cluster && releaseClaim && epoch !== undefined) {
      this.epochs.delete(clientId);
      await this.cluster.ports.directory.release(clientId, epoch);
    }
  }

  private publishWill(message: Message): void {
    this.log.debug({ clientId: message.origin, topic: message.topic }, 'publishing will');
    if (this.cluster && message.origin) void this.cluster.ports.wills.delete(message.origin).catch(() => undefined);
    this.publish(message)?.catch((error: unknown) => this.log.warn({ err: error }, 'will publication incomplete'));
  }

  /**
   * A client's PUBLISH. A QoS 2 message gets a cluster-unique id, recorded with its packet id
   * in the publisher's session and made durable before routing starts. If this node dies
   * mid-routing, the client's resend (same packet id, on any node) is routed again under the
   * same id, and every session that already has the message skips it (`deliverTo`): the
   * subscribers the first routing missed get it, the others do not get it twice.
   */
  private publishFromClient(connection: Connection, message: Message, qos2PacketId: number | undefined): Promise<unknown> | undefined {
    if (qos2PacketId === undefined) return this.publish(message);
    const session = connection.channel.session!;
    let id = session.inboundQos2.get(qos2PacketId);
    if (id === undefined) {
      id = `${this.messageIdPrefix}${(++this.messageIdCounter).toString(36)}`;
      session.inboundQos2.set(qos2PacketId, id);
      this.keeper.touch(session);
    }
    message.id = id;
    if (!this.keeper.pending) return this.publish(message);
    return this.keeper.flushed().then(() => this.publish(message));
  }

  /**
   * Routes a client's message everywhere it should go. Resolves when it is durable (stored
   * for persistent sessions, acknowledged by peers); undefined when nothing was waited for.
   */
  publish(message: Message): Promise<unknown> | undefined {
    const waits: Promise<unknown>[] = [];
    if (message.retain) waits.push(this.retainer.retain(message));
    const local = this.deliverLocal(message, !this.cluster);
    if (local) waits.push(local);
    if (this.cluster) {
      const forwarded = this.cluster.forward(message);
      if (forwarded) waits.push(forwarded);
      const shared = this.cluster.dispatchShared(message);
      if (shared) waits.push(shared);
    }
    if (waits.length === 0) return undefined;
    const all = Promise.all(waits);
    if (message.qos > 0) return all;
    all.catch((error: unknown) => this.log.debug({ err: error }, 'QoS 0 delivery incomplete'));
    return undefined;
  }

  /** Local subscribers only; resolves when persistent sessions it touched are stored. */
  private deliverLocal(message: Message, withShared: boolean): Promise<void> | undefined {
    const deliveries = this.router.route(message, this.isOnline, withShared);
    for (const [clientId, delivery] of deliveries) this.deliverTo(clientId, delivery);
    return this.keeper.pending && message.qos > 0 ? this.keeper.flushed() : undefined;
  }

  private deliverTo(clientId: string, delivery: Delivery): void {
    const connection = this.connections.get(clientId);
    const id = delivery.message.id;
    const session = connection?.channel.session ?? this.keeper.held.get(clientId);
    if (id !== undefined && session && !session.firstSight(id)) {
      this.stats.duplicatesSkipped++; // a copy routed again (publishFromClient)
      return;
    }
    if (connection) {
      connection.deliver(delivery);
      this.keeper.touch(connection.channel.session!);
      return;
    }
    // [MQTT-3.1.2-5] an offline persistent session keeps QoS 1/2 messages; QoS 0 is not queued.
    if (!session || delivery.qos === 0) return;
    const { limits } = this.ctx;
    const dropped = session.enqueue(delivery, limits.maxQueuedMessages, limits.queueOverflow);
    if (dropped) this.countDrop(clientId, 'offline queue overflow');
    this.keeper.touch(session);
  }

  private async subscribe(connection: Connection, filter: string, options: SubscriptionOptions): Promise<void> {
    const { clientId } = connection;
    const first = this.router.add(clientId, filter, options);
    this.touched(connection);
    const durable: Promise<unknown>[] = [this.keeper.flushed()];
    if (first && this.cluster) durable.push(this.cluster.routeAdded(filter));
    await Promise.all(durable);
  }

  private async unsubscribe(clientId: string, filter: string): Promise<void> {
    const last = this.router.remove(clientId, filter);
    const connection = this.connections.get(clientId);
    if (connection) this.touched(connection);
    if (last && this.cluster) await this.cluster.routeRemoved(filter);
  }

  // ---- cluster handlers (ClusterHost) ----

  async onForward(messages: Message[]): Promise<void> {
    for (const message of messages) this.deliverLocal(message, false);
    await this.keeper.flushed();
  }

  async onSharedDispatch(group: string, filter: string, message: Message, options: SharedDispatchOptions = {}): Promise<boolean> {
    const picked = this.router.pickShared(group, filter, message, this.isOnline, options.exclude);
    if (!picked || (options.onlineOnly && !this.isOnline(picked[0]))) return false;
    this.deliverTo(picked[0], picked[1]);
    await this.keeper.flushed();
    return true;
  }

  sharedUndeliverable(group: string, message: Message): void {
    this.countDrop(message.origin ?? '', `no member of shared group ${group} could take it`);
  }

  /** Another node claimed `clientId`: disconnect it here and hand the session over through the store. */
  async onTakeover(clientId: string, epoch: number): Promise<{ released: boolean }> {
    await this.attaching.get(clientId);
    this.connections.get(clientId)?.disconnect(ReasonCode.SessionTakenOver, 'the client connected to another node');
    this.wills.cancel(clientId); // the client is back, on another node [MQTT-3.1.3-9]
    this.expiries.cancel(clientId);
    const session = this.keeper.release(clientId);
    if (!session) return { released: false };
    await this.keeper.save(session);
    await Promise.all([...session.subscriptions.keys()].map(async (filter) => {
      if (this.router.remove(clientId, filter) && this.cluster) await this.cluster.routeRemoved(filter);
    }));
    if (this.epochs.get(clientId)! < epoch) this.epochs.delete(clientId);
    return { released: true };
  }

  /** This node won the reap of a dead node: hold its sessions offline and publish its clients' wills. */
  async adoptNode(deadNodeId: string): Promise<void> {
    const cluster = this.cluster!;
    for (const clientId of await cluster.ports.directory.heldBy(deadNodeId)) {
      const { epoch } = await cluster.ports.directory.claim(clientId, this.options.nodeId);
      this.epochs.set(clientId, epoch);
      const session = await this.keeper.load(clientId);
      const will = await cluster.ports.wills.take(clientId);
      if (session && session.expiryInterval > 0) {
        session.disconnectedAt ??= Date.now();
        await this.registerSubscriptions(session);
        this.keeper.held.set(clientId, session);
        this.keeper.touch(session);
        if (session.expiryInterval !== NEVER_EXPIRES) {
          this.expiries.set(clientId, session.expiryInterval * 1000, () => void this.expireSession(clientId));
        }
        await this.handBackShared(session);
      } else {
        // A clean session ended with its connection; what it held for shared groups goes to
        // other members, then its record goes too (else a later CONNECT would resume it).
        if (session) {
          session.disconnectedAt ??= Date.now();
          await this.handBackShared(session);
          await this.keeper.drop(clientId);
        }
        await cluster.ports.directory.release(clientId, epoch);
        this.epochs.delete(clientId);
      }
      if (will) this.wills.schedule(clientId, { ...will, expirySeconds: will.expirySeconds }, Math.min(will.delaySeconds, session?.expiryInterval ?? 0));
    }
  }

  /**
   * This node's heartbeat lapsed: peers may have reaped it and adopted its sessions, or Redis
   * lost its data. Sessions another node now holds are let go (their clients disconnected);
   * the rest are claimed again if the claim vanished, and their state, wills and routes are
   * written again.
   */
  async rejoin(): Promise<void> {
    const cluster = this.cluster;
    if (!cluster) return;
    const { directory, wills } = cluster.ports;
    for (const [clientId, epoch] of [...this.epochs]) {
      if (await directory.holds(clientId, epoch)) continue;
      if ((await directory.holder(clientId)) === undefined) {
        this.epochs.set(clientId, (await directory.claim(clientId, this.options.nodeId)).epoch);
        continue;
      }
      this.log.warn({ clientId }, 'session adopted by another node while this one was out of touch');
      this.connections.get(clientId)?.disconnect(ReasonCode.SessionTakenOver, 'the session moved to another node');
      this.wills.cancel(clientId);
      this.expiries.cancel(clientId);
      const session = this.keeper.release(clientId);
      for (const filter of session?.subscriptions.keys() ?? []) this.router.remove(clientId, filter);
      this.epochs.delete(clientId);
    }
    const filters = new Set<string>();
    for (const session of this.keeper.held.values()) {
      this.keeper.touch(session);
      for (const filter of session.subscriptions.keys()) filters.add(filter);
    }
    for (const [clientId, connection] of this.connections) {
      const will = connection.channel.will;
      if (will) await wills.set(clientId, will);
    }
    await Promise.all([cluster.reassertRoutes(filters), this.keeper.flushed()]);
  }

  // ---- counters ----

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

export function createBroker(options: BrokerOptions, stores?: BrokerStores, cluster?: BrokerCluster): Broker {
  return new Broker(options, stores, cluster);
}
