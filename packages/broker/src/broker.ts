import { randomBytes, randomUUID } from 'node:crypto';
import type { Packet } from 'mqtt-packet';
import { ReasonCode, reasonCodeName, type Message, type SubscriptionOptions } from '@roost/protocol';
import {
  MemoryRetainedStore,
  MemorySessionStore,
  type Delivery,
  type RetainedStore,
  type SessionStore,
} from '@roost/session';
import type { Action, DeniedAccess } from './actions.ts';
import { AuthChain, type AuthOutcome, type Authenticator, type Credentials } from './authenticator.ts';
import { AuthExchanges } from './auth-exchanges.ts';
import { AuthGuard } from './auth-guard.ts';
import type { ClientPermissions } from './authorizer.ts';
import { createClientAdmin } from './client-admin.ts';
import type { ClientAdmin } from './client-view.ts';
import type { LocalClients } from './local-clients.ts';
import type { ChannelContext } from './channel.ts';
import { ClusterNode, type BrokerCluster, type ClusterHost } from './cluster-node.ts';
import type { ForwardReceipt, SharedDispatchOptions, TakeoverAnswer } from './cluster.ts';
import type { Connection, ConnectionHost } from './connection.ts';
import { describeInfo, type ConnectionInfo } from './connection-info.ts';
import type { DrainOptions } from './drain.ts';
import { DurableSends } from './durable-sends.ts';
import { Listener } from './listener.ts';
import type { BoundListener, ListenerSpec } from './listeners/spec.ts';
import type { BrokerOptions, ListenOptions, Logger } from './options.ts';
import { Retainer } from './retainer.ts';
import { Router } from './router.ts';
import { SessionKeeper } from './session-keeper.ts';
import { SessionLifecycle } from './session-lifecycle.ts';
import { SessionCensus } from './session-census.ts';
import { BrokerStats, type ClosedBy, type DropReason } from './stats.ts';
import { WillPermissions } from './will-permissions.ts';
import { SysPublisher, type SysSnapshot } from './sys-topics.ts';
import { TakeOns } from './take-ons.ts';

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
  /** Sessions taken on here so far: what a rerouted copy is compared with (TakeOns). */
  readonly takeOns = new TakeOns();
  /** What /metrics reads about the sessions held here and the retained messages. */
  readonly census: SessionCensus;
  /** The operations port (the node's /api/v1), and this node's part of it, which peers call. */
  readonly admin: ClientAdmin;
  readonly localClients: LocalClients;
  private readonly options: BrokerOptions;
  private readonly keeper: SessionKeeper;
  private readonly retainer: Retainer;
  /** Every open connection. */
  private readonly listener: Listener;
  /** CONNECTed clients and where their sessions live. */
  private readonly sessions: SessionLifecycle;
  /** QoS 2 message ids: random per process, so a restarted node never reuses one. */
  private readonly messageIdPrefix = `${randomBytes(6).toString('base64url')}.`;
  private messageIdCounter = 0;
  /** One function for the router's per-message online checks, not a closure per message. */
  private readonly isOnline = (clientId: string): boolean => this.sessions.connections.has(clientId);
  private readonly cluster: ClusterNode | undefined;
  private readonly sys: SysPublisher;
  private readonly durableSends = new DurableSends();
  private readonly auth: AuthExchanges;
  private readonly willPermissions: WillPermissions;

  constructor(options: BrokerOptions, stores?: BrokerStores, cluster?: BrokerCluster) {
    this.options = options;
    this.log = options.logger;
    this.keeper = new SessionKeeper(stores?.sessions ?? new MemorySessionStore(), this.log, () => this.stats.sessionWriteFailures++);
    this.retainer = new Retainer(stores?.retained ?? new MemoryRetainedStore(), this.log);
    this.cluster = cluster ? new ClusterNode(options.nodeId, cluster, this.log) : undefined;
    const { keeper, router, stats, log, takeOns } = this;
    this.sessions = new SessionLifecycle({ nodeId: options.nodeId, keeper, router, cluster: this.cluster, stats, log, takeOns, connectConcurrency: options.connectConcurrency }, this);
    this.listener = new Listener(this, this.stats, { maxConnections: options.maxConnections, maxConnectRate: options.maxConnectRate });
    this.census = new SessionCensus(this.keeper.held, this.sessions.connections, this.retainer);
    const admin = createClientAdmin({ nodeId: options.nodeId, lifecycle: this.sessions, keeper, cluster: this.cluster });
    this.admin = admin.admin;
    this.localClients = admin.local;
    const chain = new AuthChain(options.auth ?? { providers: [], allowAnonymous: true }, (credentials, outcome, reason) => this.recordAuth(credentials, outcome, reason));
    const authenticator: Authenticator = options.authBan ? new AuthGuard(chain, options.authBan, this.stats, this.log) : chain;
    this.auth = new AuthExchanges(authenticator, this.log);
    this.sys = new SysPublisher(options.sysInterval, () => this.sysSnapshot(), (message) => this.publishSys(message));
    this.willPermissions = new WillPermissions(options.auth?.rules !== undefined);
    this.ctx = {
      limits: options.limits,
      now: Date.now,
      assignClientId: () => `roost-${randomUUID()}`,
    };
  }

  get clientCount(): number {
    return this.sessions.connections.size;
  }

  /** Joins the cluster, if any; call before `listen`. */
  async start(): Promise<void> {
    await this.cluster?.start(this);
  }

  /** Where a connected client came from (listener, address, TLS identity). */
  connectionInfo(clientId: string): ConnectionInfo | undefined {
    return this.sessions.connections.get(clientId)?.info;
  }

  /** Open connections per listener name. */
  get connectionsByListener(): ReadonlyMap<string, number> {
    return this.listener.connectionsByListener;
  }

  /** Opens the listeners (all or none); one plain TCP listener named `mqtt` for `{ port, host }`. */
  async listen(options: ListenOptions): Promise<{ port: number }>;
  async listen(specs: readonly ListenerSpec[]): Promise<BoundListener[]>;
  async listen(options: ListenOptions | readonly ListenerSpec[]): Promise<{ port: number } | BoundListener[]> {
    const specs: readonly ListenerSpec[] = isSpecList(options)
      ? options
      : [{ name: 'mqtt', kind: 'tcp', host: options.host, port: options.port, proxyProtocol: false }];
    const bound = await this.listener.listen(specs);
    this.sys.start();
    return isSpecList(options) ? bound : { port: bound[0]!.port };
  }

  /** Stops accepting and lets the clients go at the drain's rate; stop() then leaves as without one. */
  drain(options: DrainOptions): Promise<void> {
    return this.listener.drain(options);
  }

  /** Stops accepting, tells every client the server is shutting down, and leaves the cluster. */
  async stop(): Promise<void> {
    this.sys.stop();
    const closing = this.listener.close();
    // Hand-backs first: what other members took is forgotten by the flush after them.
    await this.sessions.stop();
    await this.keeper.flushed().catch(() => undefined);
    await closing;
    await this.cluster?.stop();
  }

  private async sysSnapshot(): Promise<SysSnapshot> {
    const retained = await this.retainer.count().catch(() => -1);
    const { version } = this.options;
    return { version, stats: this.stats, clientsConnected: this.sessions.connections.size, subscriptions: this.router.subscriptionCount, retained, now: Date.now() };
  }

  /** A $SYS message: retained, and to this node's subscribers (each node publishes its own). */
  private publishSys(message: Message): void {
    void this.retainer.retain(message);
    this.deliverLocal(message, true);
  }

  /** Runs a broker-side action; a returned promise holds back the connection's later actions. */
  execute(connection: Connection, action: Action): Promise<unknown> | void {
    switch (action.type) {
      case 'authenticate':
        this.auth.start(connection, { ...action.credentials, info: connection.info });
        return;
      case 'continue-authentication':
        this.auth.continue(connection, action.data);
        return;
      case 'attach':
        this.sessions.attach(connection, action.request);
        return;
      case 'denied':
        this.countDenied(connection.channel.permissions, action.access, action.topic);
        return;
      case 'limit':
        return this.stats.countLimit(action.limit);
      case 'publish': {
        this.stats.messagesReceived++;
        const routed = this.publishFromClient(connection, action.message, action.qos2PacketId);
        // A full peer link pushes back on the publisher, as a full socket would on one node.
        const congestion = this.cluster?.congestion;
        if (congestion) connection.pauseReading(congestion);
        return routed;
      }
      case 'subscribe':
        return this.subscribe(connection, action.filter, action.options);
      case 'send-retained':
        return this.retainer.replay(connection, action.filter, action.options);
      case 'unsubscribe':
        return this.sessions.unsubscribe(connection.clientId, action.filter);
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

  detach(connection: Connection): void {
    this.listener.closed(connection);
    // Before the lifecycle schedules the will (a will without delay is published at once).
    const { channel } = connection;
    this.willPermissions.closed(channel.clientId, channel.will !== undefined, channel.permissions);
    this.sessions.detach(connection);
  }

  /** Counted by provider and result; a refusal logged with who and from where, never the password. */
  private recordAuth(credentials: Credentials, outcome: AuthOutcome, reason: string): void {
    this.stats.countAuthOutcome(outcome.provider, outcome.result);
    if (outcome.result === 'accepted') return;
    this.log.info(
      {
        clientId: credentials.clientId,
        username: credentials.username,
        ...describeInfo(credentials.info),
        provider: outcome.provider,
        reasonCode: reasonCodeName(outcome.reasonCode),
        reason,
        method: credentials.method,
      },
      credentials.reauthentication ? 'client refused at re-authentication' : 'client refused at CONNECT',
    );
  }

  /** Each denial counted by access; logged at debug, since a publisher may hit one per message. */
  private countDenied(permissions: ClientPermissions | undefined, access: DeniedAccess | 'will', topic: string): void {
    this.stats.countAuthzDenial(access);
    if (access !== 'subscribe') this.stats.countDrop('acl');
    const identity = permissions?.identity;
    this.log.debug({ clientId: identity?.clientId, username: identity?.username, access, topic }, 'not authorized');
  }

  publishWill(message: Message): void {
    const { allowed, permissions } = this.willPermissions.take(message.origin ?? '', message.topic);
    if (!allowed) {
      this.countDenied(permissions, 'will', message.topic);
      return;
    }
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
    const resend = id !== undefined;
    if (id === undefined) {
      id = `${this.messageIdPrefix}${(++this.messageIdCounter).toString(36)}`;
      session.inboundQos2.set(qos2PacketId, id);
      this.keeper.touch(session);
    }
    message.id = id;
    if (!this.keeper.pending) return this.publish(message, resend);
    return this.keeper.flushed().then(() => this.publish(message, resend));
  }

  /**
   * Routes a client's message everywhere it should go. Resolves when it is durable (stored
   * for persistent sessions, acknowledged by peers); undefined when nothing was waited for.
   * `resend`: a QoS 2 message routed before under its id (its shared copies go to the members that took them).
   */
  publish(message: Message, resend = false): Promise<unknown> | undefined {
    const waits: Promise<unknown>[] = [];
    if (message.retain) waits.push(this.retainer.retain(message));
    const deliveries = this.router.route(message, this.isOnline, !this.cluster);
    // The cluster's route replica knows every node's subscribers, this one's included.
    if (deliveries.size === 0 && !message.retain && !this.cluster?.routed(message.topic)) this.stats.countDrop('no_subscribers');
    const local = this.deliverAll(message, deliveries);
    if (local) waits.push(local);
    if (this.cluster) {
      const forwarded = this.cluster.forward(message);
      if (forwarded) waits.push(forwarded);
      const shared = this.cluster.dispatchShared(message, resend);
      if (shared) waits.push(shared);
    }
    if (waits.length === 0) return undefined;
    const all = Promise.all(waits);
    if (message.qos > 0) return all;
    all.catch((error: unknown) => this.log.debug({ err: error }, 'QoS 0 delivery incomplete'));
    return undefined;
  }

  /**
   * Local subscribers only; resolves when persistent sessions it touched are stored (and
   * sessions still being taken on have it). With `takenOnAfter`, only sessions taken on
   * after that count get it (Forwarder.reroute).
   */
  private deliverLocal(message: Message, withShared: boolean, takenOnAfter?: number): Promise<unknown> | undefined {
    return this.deliverAll(message, this.router.route(message, this.isOnline, withShared), takenOnAfter);
  }

  private deliverAll(message: Message, deliveries: Map<string, Delivery>, takenOnAfter?: number): Promise<unknown> | undefined {
    let waits: Promise<unknown>[] | undefined;
    for (const [clientId, delivery] of deliveries) {
      if (takenOnAfter !== undefined && !this.takenOnAfter(clientId, takenOnAfter)) continue;
      const waiting = this.deliverTo(clientId, delivery);
      if (waiting) (waits ??= []).push(waiting);
    }
    if (message.qos === 0) return undefined;
    const flushed = this.keeper.pending ? this.keeper.flushed() : undefined;
    if (!waits) return flushed;
    if (flushed) waits.push(flushed);
    return Promise.all(waits);
  }

  /** A session still being taken on (no session object yet) gets it: at worst twice, never not. */
  private takenOnAfter(clientId: string, count: number): boolean {
    const session = this.sessions.connections.get(clientId)?.channel.session ?? this.keeper.held.get(clientId);
    return !session || session.takenOn > count;
  }

  /**
   * A copy routed again after a node on its path died (ClusterHost). One from a node that
   * predates `takenOnAfter` (only `reroutedSince`) goes to every session: twice rather than lost.
   */
  deliverRerouted(message: Message): Promise<unknown> | undefined {
    const { reroutedSince, takenOnAfter, ...plain } = message;
    return this.deliverLocal(plain, false, takenOnAfter);
  }

  /** Undefined, or a promise when the session is still being taken on: the delivery waits for it. */
  deliverTo(clientId: string, delivery: Delivery): Promise<void> | undefined {
    const connection = this.sessions.connections.get(clientId);
    const id = delivery.message.id;
    const session = connection?.channel.session ?? this.keeper.held.get(clientId);
    if (!session) {
      const waiting = this.sessions.pendingDelivery(clientId, delivery);
      if (!waiting && delivery.qos > 0) {
        this.stats.deliveriesWithoutSession++;
        this.log.debug({ clientId, messageId: delivery.message.id, topic: delivery.message.topic }, 'delivery for a client with no session here');
      }
      return waiting;
    }
    if (id !== undefined && !session.firstSight(id)) {
      this.stats.duplicatesSkipped++; // a copy routed again (publishFromClient)
      return;
    }
    if (connection) {
      if (this.cluster && delivery.qos === 2) {
        const actions = connection.channel.deliver(delivery);
        this.keeper.touch(connection.channel.session!);
        this.durableSends.after(connection, actions, this.keeper.flushed());
        return;
      }
      connection.deliver(delivery);
      this.keeper.touch(connection.channel.session!);
      return;
    }
    // [MQTT-3.1.2-5] an offline persistent session keeps QoS 1/2 messages; QoS 0 is not queued.
    if (delivery.qos === 0) return;
    const { limits } = this.ctx;
    const dropped = session.enqueue(delivery, limits.maxQueuedMessages, limits.queueOverflow);
    if (dropped) this.countDrop(clientId, 'queue_full');
    this.keeper.touch(session);
  }

  private async subscribe(connection: Connection, filter: string, options: SubscriptionOptions): Promise<void> {
    const { clientId } = connection;
    const first = this.router.add(clientId, filter, options);
    this.touched(connection);
    const durable: Promise<unknown>[] = [this.keeper.flushed()];
    if (first && this.cluster) durable.push(this.cluster.routesAdded([filter]));
    await Promise.all(durable);
  }

  // ---- cluster handlers (ClusterHost) ----

  /** Resolves with the indices of the messages their sender must route again (MovedSessions) and the take-on count they were routed under. */
  async onForward(messages: Message[], _fromNode?: string, routedAt?: number): Promise<ForwardReceipt> {
    const takeOns = this.takeOns.count; // every message below is routed in this turn
    let waits: Promise<unknown>[] | undefined;
    let again: number[] | undefined;
    for (const [i, message] of messages.entries()) {
      const delivered = message.reroutedSince === undefined ? this.deliverLocal(message, false) : this.deliverRerouted(message);
      if (delivered) (waits ??= []).push(delivered);
      if (this.sessions.moved.routedFor(message, routedAt)) (again ??= []).push(i);
    }
    await Promise.all([this.keeper.flushed(), ...(waits ?? [])]);
    return { routeAgain: again, takeOns };
  }

  async onSharedDispatch(group: string, filter: string, message: Message, options: SharedDispatchOptions = {}): Promise<boolean> {
    const picked = this.router.pickShared(group, filter, message, this.isOnline, options.exclude, options.member);
    if (!picked || (options.onlineOnly && !this.isOnline(picked[0]))) return false;
    const [member, delivery] = picked;
    // A member still routed here whose session has gone (handed over, ended): taken here the
    // message would be acknowledged and lost; declined, the dispatcher offers it elsewhere.
    if (!this.sessions.canTake(member)) return false;
    const claiming = this.claimOwner(group, message, member, options);
    if (claiming) {
      // Another member took this QoS 2 message first (two offers of it at once), or the member
      // moved while it was claimed for it (its session left for another node): the message
      // goes to the member on record, wherever its session is.
      const owner = await claiming;
      if (owner !== member || !this.sessions.canTake(member)) return this.cluster!.followOwner(group, filter, message, owner);
    }
    await Promise.all([this.deliverTo(member, delivery), this.keeper.flushed()]);
    return true;
  }

  /**
   * For a QoS 2 message in a cluster, the member it goes to: `member`, claimed in Redis before
   * its session write (SharedDispatcher follows the claim for a resend or a dispatch whose
   * answer was lost), or the member that claimed it first. A claim that fails only lets a
   * later copy reach another member, so it never fails the delivery. `exclude`: a member
   * handing the message back gives it up. Undefined when there is nothing to claim: the
   * delivery then follows the pick in the same turn.
   */
  private claimOwner(group: string, message: Message, member: string, { exclude, excludeEpoch }: SharedDispatchOptions): Promise<string> | undefined {
    if (!this.cluster || message.qos !== 2 || message.id === undefined) return undefined;
    const leaving = exclude === undefined ? undefined : { member: exclude, epoch: excludeEpoch ?? 0 };
    return this.cluster.ports.sharedOwners.claim(group, message.id, { member, epoch: this.sessions.epochOf(member) }, leaving).catch((error: unknown) => {
      this.log.debug({ err: error, group }, 'shared owner not claimed');
      return member;
    });
  }

  sharedUndeliverable(group: string, message: Message): void {
    this.log.debug({ group, topic: message.topic }, 'no member of the shared group could take the message');
    this.countDrop(message.origin ?? '', 'no_shared_member');
  }

  onTakeover(clientId: string, epoch: number): Promise<TakeoverAnswer> {
    return this.sessions.onTakeover(clientId, epoch);
  }

  adoptNode(deadNodeId: string): Promise<void> {
    return this.sessions.adoptNode(deadNodeId);
  }

  /** This node's heartbeat lapsed: see SessionLifecycle.rejoin. */
  rejoin(): Promise<void> {
    return this.sessions.rejoin();
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

  dropped(connection: Connection, _delivery: Delivery, reason: DropReason): void {
    this.countDrop(connection.clientId, reason);
  }

  countDisconnect(by: ClosedBy, reasonCode: ReasonCode | undefined): void {
    this.stats.countDisconnect(by, reasonCode);
  }

  private countDrop(clientId: string, reason: DropReason): void {
    this.stats.countDrop(reason);
    // Logged at debug: under overflow this fires per message; the counter carries the rate.
    this.log.debug({ clientId, reason }, 'message dropped');
  }
}

function isSpecList(options: ListenOptions | readonly ListenerSpec[]): options is readonly ListenerSpec[] {
  return Array.isArray(options);
}

function assertNever(value: never): never {
  throw new Error(`unhandled action ${JSON.stringify(value)}`);
}

export function createBroker(options: BrokerOptions, stores?: BrokerStores, cluster?: BrokerCluster): Broker {
  return new Broker(options, stores, cluster);
}
