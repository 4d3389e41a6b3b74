import { ReasonCode, type Message } from '@roost/protocol';
import { NEVER_EXPIRES, Session, type Delivery } from '@roost/session';
import type { AttachRequest } from './actions.ts';
import { ClaimEpochs } from './claim-epochs.ts';
import type { Will } from './channel.ts';
import type { ClusterNode } from './cluster-node.ts';
import type { SharedDispatchOptions, TakeoverAnswer } from './cluster.ts';
import type { Connection } from './connection.ts';
import { MovedSessions } from './moved-sessions.ts';
import type { Logger } from './options.ts';
import { PendingDeliveries } from './pending-deliveries.ts';
import { SharedHandBack } from './shared-hand-back.ts';
import type { Router } from './router.ts';
import type { SessionKeeper } from './session-keeper.ts';
import type { BrokerStats } from './stats.ts';
import { KeyedTimers } from './timers.ts';
import { WillKeeper } from './will-keeper.ts';

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
  private readonly stats: BrokerStats;
  private readonly log: Logger;
  private readonly host: LifecycleHost;
  private readonly expiries = new KeyedTimers();
  /** The directory epoch under which this node holds each session (cluster mode). */
  private readonly epochs = new ClaimEpochs();
  /** CONNECTs (and adoptions) for one client id are resolved one after another, so exactly one wins. */
  private readonly attaching = new Map<string, Promise<void>>();
  /** Deliveries for sessions routed here and still being loaded (takeover, resume). */
  private readonly pending = new PendingDeliveries();
  /** Shared members' unreceived messages, offered to the other members when they leave. */
  private readonly handBack: SharedHandBack;

  constructor(parts: LifecycleParts, host: LifecycleHost) {
    this.nodeId = parts.nodeId;
    this.keeper = parts.keeper;
    this.router = parts.router;
    this.cluster = parts.cluster;
    this.stats = parts.stats;
    this.log = parts.log;
    this.host = host;
    this.wills = new WillKeeper((message) => host.publishWill(message));
    const dispatchLocal = (group: string, filter: string, message: Message, options?: SharedDispatchOptions) => host.onSharedDispatch(group, filter, message, options);
    this.handBack = new SharedHandBack({ keeper: parts.keeper, cluster: parts.cluster, stats: parts.stats, log: parts.log, dispatchLocal });
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
    this.inTurn(request.clientId, () => this.resolveSession(connection, request), (error) => {
      if (error instanceof SupersededError) {
        // [MQTT-3.1.4-3] a later CONNECT for the client, on the node that held it, won.
        connection.disconnect(ReasonCode.SessionTakenOver, 'another connection took over the session');
        return;
      }
      this.log.error({ err: error, clientId: request.clientId }, 'session resolution failed');
      connection.disconnect(ReasonCode.ServerUnavailable, 'session store unavailable');
    });
  }

  /** Runs `task` after every earlier one for `clientId` (CONNECTs, adoption) has settled. */
  private inTurn(clientId: string, task: () => Promise<void>, onError: (error: unknown) => void): Promise<void> {
    const previous = this.attaching.get(clientId) ?? Promise.resolve();
    const run = previous.then(task).catch(onError);
    // The turn ends however `run` ends, so a failure never skips the next one.
    const turn: Promise<void> = run.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (this.attaching.get(clientId) === turn) this.attaching.delete(clientId);
    });
    this.attaching.set(clientId, turn);
    return run;
  }

  /**
   * From the claim on, what is routed to the client here waits in `pending` until the
   * session is held; whatever happens, `pending` is emptied into the session or its
   * publishers are refused.
   */
  private async resolveSession(connection: Connection, request: AttachRequest): Promise<void> {
    if (connection.closed) return;
    const { clientId } = request;
    this.pending.open(clientId);
    let held: Session | undefined;
    try {
      held = await this.takeOn(connection, request);
    } finally {
      const { deliveries, settle } = this.pending.take(clientId);
      if (held) for (const delivery of deliveries) this.host.deliverTo(clientId, delivery);
      settle(held && this.keeper.flushed());
    }
  }

  /** Claims, loads (taking over from another node) and holds the session; the session held, if any. */
  private async takeOn(connection: Connection, request: AttachRequest): Promise<Session | undefined> {
    const { clientId } = request;
    // [MQTT-3.1.4-3] a client id already connected here: the older connection is taken over.
    this.connections.get(clientId)?.disconnect(ReasonCode.SessionTakenOver, 'another connection took over the session');
    const claimed = await this.claimAndLoad(clientId, request.cleanStart);
    this.moved.forget(clientId);
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
    if (!this.keeper.held.has(clientId)) await this.registerSubscriptions(session, claimed.routed);
    // Independent writes and the fence check go out together: one round trip, not three.
    const will = connection.channel.will;
    session.heldSince = Date.now();
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
  private async claimAndLoad(clientId: string, cleanStart: boolean): Promise<Claimed> {
    if (!this.cluster) return { session: await this.keeper.load(clientId) };
    const loading = this.keeper.load(clientId);
    loading.catch(() => undefined); // awaited below or superseded; never an unhandled rejection
    const { epoch, previous } = await this.cluster.ports.directory.claim(clientId, this.nodeId);
    this.epochs.set(clientId, epoch);
    if (previous === undefined || previous === this.nodeId) return { epoch, session: await loading };
    // Before the holder lets go, the session's subscriptions route here on every node, so
    // what is published while it hands over reaches this node (and waits in `pending`)
    // rather than the old holder after it let go.
    const stale = cleanStart ? undefined : await loading;
    const routed = stale ? await this.registerSubscriptions(stale) : undefined;
    try {
      await this.takeOver(previous, clientId, epoch, cleanStart);
    } catch (error) {
      if (routed) await this.dropStaleRoutes(clientId, routed, undefined);
      throw error;
    }
    const session = await this.keeper.load(clientId);
    if (routed) await this.dropStaleRoutes(clientId, routed, session);
    return { epoch, session, routed, tookOver: true };
  }

  /** Filters routed for a session read before its takeover that the handed-over session no longer has. */
  private async dropStaleRoutes(clientId: string, routed: ReadonlySet<string>, session: Session | undefined): Promise<void> {
    const gone = [...routed].filter((filter) => !session?.subscriptions.has(filter));
    await Promise.all(gone.map((filter) => this.unsubscribe(clientId, filter)));
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

  /**
   * A session resumed from the store: its subscriptions route to this node from now on,
   * on every live node before this resolves unless `sync` is false (adoption: messages for
   * a dead node's sessions wait for its reap, which comes after these routes). Returns the
   * filters registered; those in `already` were registered before.
   */
  private async registerSubscriptions(session: Session, already?: ReadonlySet<string>, sync = true): Promise<Set<string>> {
    const registered = new Set<string>();
    const firsts: string[] = [];
    for (const [filter, options] of session.subscriptions) {
      registered.add(filter);
      if (already?.has(filter)) {
        this.router.add(session.clientId, filter, options); // options may have changed
        continue;
      }
      if (this.router.add(session.clientId, filter, options)) firsts.push(filter);
    }
    if (this.cluster && firsts.length > 0) {
      if (sync) await this.cluster.routesAdded(firsts);
      else await this.cluster.reassertRoutes(firsts);
    }
    return registered;
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
    return this.inTurn(clientId, task, (error) => {
      throw error;
    }).then(() => found);
  }

  async unsubscribe(clientId: string, filter: string): Promise<void> {
    const last = this.router.remove(clientId, filter);
    const session = this.connections.get(clientId)?.channel.session;
    if (session) this.keeper.touch(session);
    if (last && this.cluster) await this.cluster.routeRemoved(filter);
  }


  /** Another node claimed `clientId`: disconnect it here and hand the session over through the store. */
  async onTakeover(clientId: string, epoch: number): Promise<TakeoverAnswer> {
    // A claim older than this node's, now or once this node's own CONNECT for the client has
    // claimed it (two CONNECTs racing on two nodes): the caller lost, and its fence check
    // tells it so. Waiting for that CONNECT, itself perhaps waiting for the caller to hand
    // over, would stall both until their deadlines.
    if (await this.epochs.outclaimedOr(clientId, epoch, this.attaching.get(clientId) ?? Promise.resolve())) return { released: false, superseded: true };
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
      this.moved.add(clientId, session.subscriptions.keys());
      await this.keeper.save(session);
      if (this.cluster) await Promise.all(lastHere.map((filter) => this.cluster!.routeRemoved(filter)));
      if (this.epochs.get(clientId)! < epoch) this.epochs.delete(clientId);
      return { released: true };
    } finally {
      this.handBack.handingOver.delete(clientId);
    }
  }

  /**
   * This node won the reap of a dead (or departed) node: it holds the node's persistent
   * sessions offline, their expiry and wills counted from their disconnection, and routes
   * them here. A client that reconnected elsewhere meanwhile keeps its session there.
   */
  async adoptNode(deadNodeId: string): Promise<void> {
    for (const clientId of await this.cluster!.ports.directory.heldBy(deadNodeId)) {
      await this.inTurn(clientId, () => this.adoptSession(deadNodeId, clientId), (error) => {
        throw error; // the reap fails and is retried once its claim expires
      });
    }
  }

  private async adoptSession(deadNodeId: string, clientId: string): Promise<void> {
    const { directory, wills } = this.cluster!.ports;
    const epoch = await directory.claimFrom(clientId, this.nodeId, deadNodeId);
    if (epoch === undefined) return;
    this.epochs.set(clientId, epoch);
    this.moved.forget(clientId);
    // Read, not taken: if this node goes too before the will is due, the next reaper finds it
    // (publishing it deletes it; a reconnect overwrites or deletes it).
    const [session, will] = await Promise.all([this.keeper.load(clientId), wills.get(clientId)]);
    const now = Date.now();
    if (session) {
      session.disconnectedAt ??= now;
      session.heldSince = now;
    }
    if (session && session.expiryInterval > 0) {
      // Held before it is routed here, so what the new routes bring finds it.
      this.keeper.held.set(clientId, session);
      this.keeper.touch(session);
      await this.registerSubscriptions(session, undefined, false);
      this.expireLater(session);
      this.handBack.start(session); // not in this client's turn: a takeover waits on the turn
    } else {
      // A clean session ended with its connection; what it held for shared groups goes to
      // other members, then its record goes too (else a later CONNECT would resume it).
      if (session) {
        await this.handBack.run(session);
        await this.keeper.drop(clientId);
      }
      await directory.release(clientId, epoch);
      this.epochs.delete(clientId);
    }
    if (!will) return;
    const dueInSeconds = Math.min(will.delaySeconds, session?.expiryInterval ?? 0) - (now - (session?.disconnectedAt ?? now)) / 1000;
    this.wills.schedule(clientId, { ...will, expirySeconds: will.expirySeconds }, Math.max(0, dueInSeconds));
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
        this.epochs.set(clientId, (await directory.claim(clientId, this.nodeId)).epoch);
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
}

/** The node asked for the session had claimed the client after this one: this CONNECT lost the race. */
class SupersededError extends Error {
  constructor(clientId: string) {
    super(`a later claim of ${clientId} won`);
  }
}
