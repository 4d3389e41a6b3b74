import { ReasonCode, type Message } from '@roost/protocol';
import { NEVER_EXPIRES, Session, type Delivery } from '@roost/session';
import type { AttachRequest } from './actions.ts';
import { AdmissionGate, UNGATED, type AdmissionSlot } from './admission-gate.ts';
import { ClaimEpochs } from './claim-epochs.ts';
import { ClientTurns } from './client-turns.ts';
import type { Will } from './channel.ts';
import type { ClusterNode } from './cluster-node.ts';
import type { SharedDispatchOptions, TakeoverAnswer } from './cluster.ts';
import type { Connection } from './connection.ts';
import { MovedSessions } from './moved-sessions.ts';
import { NodeAdoption } from './node-adoption.ts';
import { DEFAULT_CONNECT_CONCURRENCY, type Logger } from './options.ts';
import { PendingDeliveries } from './pending-deliveries.ts';
import { dropClaimedElsewhere } from './shared-claims.ts';
import { SharedHandBack } from './shared-hand-back.ts';
import type { Router } from './router.ts';
import type { SessionKeeper } from './session-keeper.ts';
import { SessionRoutes } from './session-routes.ts';
import type { BrokerStats } from './stats.ts';
import type { TakeOns } from './take-ons.ts';
import { KeyedTimers } from './timers.ts';
import { WillKeeper } from './will-keeper.ts';

/** One handler for the rejections no one else awaits, not a closure per CONNECT. */
const ignore = (): undefined => undefined;

/** How long handing a session to another node waits for a shared hand-back under way. */
const HAND_BACK_WAIT_MS = 1000;

/** What the lifecycle needs of the message path; the broker implements it. */
export interface LifecycleHost {
  /** Hands a delivery to a session held here; a promise while the session is still being taken on. */
  deliverTo(clientId: string, delivery: Delivery): Promise<void> | undefined;
  publishWill(message: Message): void;
  onSharedDispatch(group: string, filter: string, message: Message, options?: SharedDispatchOptions): Promise<boolean>;
}

/** A claimed client's session as loaded, with the filters routed for it while it was taken over. */
interface Claimed {
  epoch?: number;
  session?: Session;
  routed?: ReadonlySet<string>;
  /** Another node held the session and handed it over (or died holding it). */
  tookOver?: boolean;
}

export interface LifecycleParts {
  nodeId: string;
  keeper: SessionKeeper;
  router: Router;
  cluster: ClusterNode | undefined;
  stats: BrokerStats;
  log: Logger;
  takeOns: TakeOns;
  /** Cluster mode: CONNECTs resolving their sessions at once (Redis round trips); the rest wait their turn. */
  connectConcurrency?: number;
}

/**
 * Where a client's session lives and when (emqx's connection manager): attaching a CONNECT
 * to its session (taking it over from another node if need be), detaching, expiry, wills,
 * shared hand-back when a member leaves, handing a session to another node, adopting a dead
 * node's sessions and rejoining after a lapse. The broker keeps the message path.
 */
export class SessionLifecycle {
  /** CONNECTed clients by client id. */
  readonly connections = new Map<string, Connection>();
  readonly wills: WillKeeper;
  /** Sessions handed to other nodes lately: a late forward for one is routed again by its sender. */
  readonly moved = new MovedSessions();
  private readonly nodeId: string;
  private readonly keeper: SessionKeeper;
  private readonly router: Router;
  private readonly cluster: ClusterNode | undefined;
  private readonly log: Logger;
  private readonly host: LifecycleHost;
  private readonly expiries = new KeyedTimers();
  /** The directory epoch under which this node holds each session (cluster mode). */
  private readonly epochs = new ClaimEpochs();
  /** CONNECTs (and adoptions) for one client id are resolved one after another, so exactly one wins. */
  private readonly turns = new ClientTurns();
  private readonly routes: SessionRoutes;
  private readonly adoption: NodeAdoption | undefined;
  /** Deliveries for sessions routed here and still being loaded (takeover, resume). */
  private readonly pending = new PendingDeliveries();
  /** Shared members' unreceived messages, offered to the other members when they leave. */
  private readonly handBack: SharedHandBack;
  /** Cluster mode: bounds the CONNECTs waiting on Redis at once. */
  private readonly admission: AdmissionGate | undefined;

  constructor(parts: LifecycleParts, host: LifecycleHost) {
    this.nodeId = parts.nodeId;
    this.keeper = parts.keeper;
    this.router = parts.router;
    this.cluster = parts.cluster;
    this.log = parts.log;
    this.host = host;
    this.wills = new WillKeeper((message) => host.publishWill(message));
    const dispatchLocal = (group: string, filter: string, message: Message, options?: SharedDispatchOptions) => host.onSharedDispatch(group, filter, message, options);
    const epochOf = (clientId: string) => this.epochOf(clientId);
    this.handBack = new SharedHandBack({ keeper: parts.keeper, cluster: parts.cluster, stats: parts.stats, log: parts.log, dispatchLocal, epochOf });
    this.routes = new SessionRoutes(parts.router, parts.cluster, parts.keeper, this.connections, parts.takeOns);
    if (parts.cluster) {
      this.admission = new AdmissionGate(parts.connectConcurrency ?? DEFAULT_CONNECT_CONCURRENCY);
      this.adoption = new NodeAdoption({
        ...parts,
        cluster: parts.cluster,
        routes: this.routes,
        epochs: this.epochs,
        moved: this.moved,
        turns: this.turns,
        connections: this.connections,
        wills: this.wills,
        handBack: this.handBack,
        expireLater: (session) => this.expireLater(session),
        cancelExpiry: (clientId) => this.expiries.cancel(clientId),
      });
    }
  }

  /** True when a delivery for `clientId` has a session here to go to: connected, held offline, or being taken on. */
  canTake(clientId: string): boolean {
    return this.connections.has(clientId) || this.keeper.held.has(clientId) || this.pending.has(clientId);
  }

  /** A session held here and not yet loaded: deliveries for it wait (`pendingDelivery`). */
  pendingDelivery(clientId: string, delivery: Delivery): Promise<void> | undefined {
    return this.pending.add(clientId, delivery);
  }

  /**
   * Stops every timer: the node is leaving (its sessions' timers go to the node that reaps it).
   * Resolves once the shared hand-backs under way have ended: they need the cluster links.
   */
  async stop(): Promise<void> {
    this.wills.clear();
    this.expiries.clear();
    await this.handBack.settled();
  }

  attach(connection: Connection, request: AttachRequest): void {
    this.turns.run(request.clientId, () => this.resolveSession(connection, request), (error) => {
      if (error instanceof SupersededError) {
        // [MQTT-3.1.4-3] a later CONNECT for the client, on the node that held it, won.
        connection.disconnect(ReasonCode.SessionTakenOver, 'another connection took over the session');
        return;
      }
      this.log.error({ err: error, clientId: request.clientId }, 'session resolution failed');
      connection.disconnect(ReasonCode.ServerUnavailable, 'session store unavailable');
    });
  }

  /**
   * From the claim on, what is routed to the client here waits in `pending` until the
   * session is held; whatever happens, `pending` is emptied into the session or its
   * publishers are refused.
   */
  private async resolveSession(connection: Connection, request: AttachRequest): Promise<void> {
    // Given back at the end, or before waiting on other nodes (a takeover, a route sync).
    const entered = this.admission?.enter() ?? UNGATED;
    const slot = entered instanceof Promise ? await entered : entered;
    if (connection.closed) return slot.release();
    const { clientId } = request;
    this.pending.open(clientId);
    let held: Session | undefined;
    try {
      held = await this.takeOn(connection, request, slot);
    } finally {
      slot.release();
      const { deliveries, settle } = this.pending.take(clientId);
      if (held) for (const delivery of deliveries) this.host.deliverTo(clientId, delivery);
      settle(held && this.keeper.flushed());
    }
  }

  /** Claims, loads (taking over from another node) and holds the session; the session held, if any. */
  private async takeOn(connection: Connection, request: AttachRequest, slot: AdmissionSlot): Promise<Session | undefined> {
    const { clientId } = request;
    // [MQTT-3.1.4-3] a client id already connected here: the older connection is taken over.
    this.connections.get(clientId)?.disconnect(ReasonCode.SessionTakenOver, 'another connection took over the session');
    const fromStore = !this.keeper.held.has(clientId);
    const claimed = await this.claimAndLoad(clientId, request.cleanStart, slot);
    this.moved.forget(clientId);
    if (fromStore && claimed.session && this.cluster) await dropClaimedElsewhere(claimed.session, this.cluster.ports.sharedOwners, claimed.epoch ?? 0);
    const { epoch } = claimed;
    let { session } = claimed;
    // A session taken from another node is this node's now, connection or not.
    if (connection.closed && !claimed.tookOver) return undefined;
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
    if (!this.keeper.held.has(clientId)) {
      // A filter new here waits for every peer to apply its route, a stalled one up to the
      // route sync timeout: not while holding a place others wait for.
      if (session.subscriptions.size > 0) slot.release();
      await this.routes.register(session, claimed.routed);
    }
    // Independent writes and the fence check go out together: one round trip, not three.
    const will = connection.channel.will;
    const [, , holds] = await Promise.all([
      this.keeper.hold(session),
      this.cluster && (will ? this.cluster.ports.wills.set(clientId, will) : this.cluster.ports.wills.delete(clientId)),
      // Fencing: a later CONNECT elsewhere claimed the client meanwhile; that one wins.
      epoch === undefined || this.cluster!.ports.directory.holds(clientId, epoch),
    ]);
    if (!holds) {
      // The winner's takeover (it waits for this attach) takes the session from here.
      connection.disconnect(ReasonCode.SessionTakenOver, 'another connection took over the session');
      return session;
    }
    if (connection.closed) {
      this.offline(session, will);
      return session;
    }
    this.connections.set(clientId, connection);
    this.log.debug({ clientId, sessionPresent: present }, 'client connected');
    connection.attached(connection.channel.attached(session, present));
    return session;
  }

  /**
   * The client's session, if any; in cluster mode, the client id claimed first and taken from
   * whichever node held it. The stored session is read while the claim is made: when no other
   * node held the client that read stands (a claim made elsewhere after it fails the fence
   * check); when one did, the session is read again after that node handed it over.
   */
  private async claimAndLoad(clientId: string, cleanStart: boolean, slot: AdmissionSlot): Promise<Claimed> {
    if (!this.cluster) return { session: await this.keeper.load(clientId) };
    const loading = this.keeper.load(clientId);
    loading.catch(ignore); // awaited below or superseded; never an unhandled rejection
    const { epoch, previous } = await this.cluster.ports.directory.claim(clientId, this.nodeId);
    this.epochs.set(clientId, epoch);
    if (previous === undefined || previous === this.nodeId) return { epoch, session: await loading };
    // Waiting on another node (a handover, or a dead node's timeout) must not hold up the
    // CONNECTs behind this one: a node's clients reconnecting elsewhere all take over at once.
    slot.release();
    // Before the holder lets go, the session's subscriptions route here on every node, so
    // what is published while it hands over reaches this node (and waits in `pending`)
    // rather than the old holder after it let go.
    const stale = cleanStart ? undefined : await loading;
    const routed = stale ? await this.routes.register(stale) : undefined;
    try {
      await this.takeOver(previous, clientId, epoch, cleanStart);
    } catch (error) {
      if (routed) await this.routes.dropStale(clientId, routed, undefined);
      throw error;
    }
    const session = await this.keeper.load(clientId);
    if (routed) await this.routes.dropStale(clientId, routed, session);
    return { epoch, session, routed, tookOver: true };
  }

  private async takeOver(previous: string, clientId: string, epoch: number, cleanStart: boolean): Promise<void> {
    const outcome = await this.cluster!.takeover(previous, clientId, epoch);
    if (outcome === 'superseded') {
      if (this.epochs.get(clientId) === epoch) this.epochs.delete(clientId);
      throw new SupersededError(clientId);
    }
    if (outcome === 'gone') {
      // The holder died with the client connected and no reaper has run yet: the old
      // connection ended without DISCONNECT, so its will is due now, unless it was delayed
      // and this CONNECT resumes the session in time [MQTT-3.1.3-9].
      const will = await this.cluster!.ports.wills.take(clientId);
      if (will && (will.delaySeconds === 0 || cleanStart)) this.host.publishWill(will.message);
    }
  }

  /** The connection closed: its session goes offline, unless another connection has it by now. */
  detach(connection: Connection): void {
    const { clientId, channel } = connection;
    if (this.connections.get(clientId) !== connection) return;
    this.connections.delete(clientId);
    this.offline(channel.session!, channel.will);
  }

  /** The session's connection is gone: it ends, or waits for its client with its expiry and will running. */
  private offline(session: Session, will: Will | undefined): void {
    session.disconnectedAt = Date.now();
    if (!this.handBack.handingOver.has(session.clientId)) this.handBack.start(session);
    if (session.expiryInterval === 0) {
      void this.endSession(session, true);
    } else {
      this.keeper.touch(session);
      this.expireLater(session);
    }
    if (will) this.wills.schedule(session.clientId, will, Math.min(will.delaySeconds, session.expiryInterval));
    else if (this.cluster) void this.cluster.ports.wills.delete(session.clientId).catch(() => undefined);
  }

  /** Ends an offline session when its expiry interval, counted from its disconnection, has passed. */
  private expireLater(session: Session): void {
    if (session.expiryInterval === NEVER_EXPIRES) return;
    const left = session.expiryInterval * 1000 - (Date.now() - (session.disconnectedAt ?? Date.now()));
    const { clientId } = session;
    this.expiries.set(clientId, Math.max(0, left), () => void this.expireSession(clientId));
  }

  private async expireSession(clientId: string): Promise<void> {
    const session = this.keeper.held.get(clientId);
    if (!session || session.disconnectedAt === undefined) return;
    this.log.debug({ clientId }, 'session expired');
    await this.endSession(session, true);
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

  /**
   * An operator discards the session (operations API): its client is disconnected (v5 0x98)
   * and the session ends as if it expired, in the client's turn so no CONNECT interleaves.
   * False when no session of `clientId` is held here.
   */
  discard(clientId: string): Promise<boolean> {
    let found = false;
    const task = async () => {
      const connection = this.connections.get(clientId);
      const session = connection?.channel.session ?? this.keeper.held.get(clientId);
      if (!session) return;
      found = true;
      connection?.disconnect(ReasonCode.AdministrativeAction, 'session discarded by an operator');
      // A session without expiry ended with its connection (offline) already.
      if (!connection || session.expiryInterval > 0) await this.endSession(session, true);
    };
    return this.turns.run(clientId, task, (error) => {
      throw error;
    }).then(() => found);
  }

  /** The directory epoch under which this node holds the client (cluster mode); 0 when none is known. */
  epochOf(clientId: string): number {
    return this.epochs.get(clientId) ?? 0;
  }

  unsubscribe(clientId: string, filter: string): Promise<void> {
    return this.routes.remove(clientId, filter);
  }

  /** Another node claimed `clientId`: disconnect it here and hand the session over through the store. */
  async onTakeover(clientId: string, epoch: number): Promise<TakeoverAnswer> {
    // A claim older than this node's, now or once this node's own CONNECT for the client has
    // claimed it (two CONNECTs racing on two nodes): the caller lost, and its fence check
    // tells it so. Waiting for that CONNECT, itself perhaps waiting for the caller to hand
    // over, would stall both until their deadlines.
    if (await this.epochs.outclaimedOr(clientId, epoch, this.turns.settled(clientId))) return { released: false, superseded: true };
    // Unreceived shared messages go with the session to the client's new node; a hand-back
    // already under way stops and settles first, so none is both handed on and saved.
    this.handBack.handingOver.add(clientId);
    try {
      this.connections.get(clientId)?.disconnect(ReasonCode.SessionTakenOver, 'the client connected to another node');
      // Bounded: the caller's call has a deadline, and a hand-back waiting on an unreachable
      // node must not make it give up (the message in flight may then reach two members).
      await Promise.race([this.handBack.underWay(clientId), new Promise((resolve) => setTimeout(resolve, HAND_BACK_WAIT_MS))]);
      this.wills.cancel(clientId); // the client is back, on another node [MQTT-3.1.3-9]
      this.expiries.cancel(clientId);
      const session = this.keeper.release(clientId);
      if (!session) return { released: false };
      // Out of the local routes in the same turn as the release: a shared message offered here
      // while the session is saved must go to a member this node still holds, or to another
      // node, not to a member whose session is no longer here (it would be lost).
      const lastHere = [...session.subscriptions.keys()].filter((filter) => this.router.remove(clientId, filter));
      // The route removals leave in the same turn too, before anything else here can add the
      // filter again: a client subscribing to it here while the session is saved gets a
      // route write that lands after them. Sent after the save, they landed after that write
      // (a no-op, the route still there) and unrouted this node for its new subscriber.
      const unrouted = lastHere.map((filter) => this.cluster?.routeRemoved(filter));
      this.moved.add(clientId, session.subscriptions.keys());
      await Promise.all([this.keeper.save(session), ...unrouted]);
      if (this.epochs.get(clientId)! < epoch) this.epochs.delete(clientId);
      return { released: true };
    } finally {
      this.handBack.handingOver.delete(clientId);
    }
  }

  /** This node won the reap of a dead (or departed) node: it takes on the node's sessions (NodeAdoption). */
  adoptNode(deadNodeId: string): Promise<void> {
    return this.adoption!.adoptNode(deadNodeId);
  }

  /** This node's heartbeat lapsed: its claims are checked and its state written again (NodeAdoption). */
  async rejoin(): Promise<void> {
    await this.adoption?.rejoin();
  }
}

/** The node asked for the session had claimed the client after this one: this CONNECT lost the race. */
class SupersededError extends Error {
  constructor(clientId: string) {
    super(`a later claim of ${clientId} won`);
  }
}
