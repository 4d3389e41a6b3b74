// The cluster ports the broker owns; adapters (cluster-grpc, store-redis) implement them.
import type { Message } from '@roost/protocol';
import type { ClientView, KickOutcome, ListPosition } from './client-view.ts';
import type { Will } from './will.ts';

export interface Peer {
  nodeId: string;
  /** host:port of the peer's gRPC server. */
  address: string;
}

/** What a node made of messages a peer forwarded (ClusterHandlers.onForward). */
export interface ForwardReceipt {
  /** Indices of those the sender must route again (MovedSessions); absent: none. */
  routeAgain?: number[];
  /** The node's TakeOns count when it routed them. */
  takeOns: number;
}

/** A peer's ack of one forwarded message. */
export interface Taken {
  /** The peer asks for it to be routed again: a session it was routed for there has moved. */
  again: boolean;
  /** The peer's TakeOns count when it routed it; absent from a peer that predates it. */
  takeOns?: number;
}

/** What a node answers to its peers; the broker implements it. */
/** A holder's answer to a takeover: whether it let a session go, and whether the caller's claim is older than its own. */
export interface TakeoverAnswer {
  released: boolean;
  /** The holder claimed the client after the caller (racing CONNECTs): the caller lost. */
  superseded?: boolean;
}

export interface ClusterHandlers {
  /**
   * Messages a peer routed here: deliver them locally only (never forward again). Resolves
   * once they are handed to local sessions (persisted where the session is persistent), which
   * is when the sending node may acknowledge its publisher, with the indices of those it must
   * route again: routed here in part for a session that has moved to another node since
   * (MovedSessions). `routedAt`: when the peer routed the oldest of them (epoch ms), if it says.
   */
  onForward(messages: Message[], fromNode: string, routedAt?: number): Promise<ForwardReceipt>;
  /** Another node wants `clientId`: disconnect it here (v5 0x8E) and release its session. */
  onTakeover(clientId: string, epoch: number): Promise<TakeoverAnswer>;
  /** A shared-subscription message for a member on this node; false when no member could take it. */
  onSharedDispatch(group: string, filter: string, message: Message, options?: SharedDispatchOptions): Promise<boolean>;
  /** Resolves true once this node's route replica has applied table `version`; false after `timeoutMs`. */
  onAwaitRoutes(version: number, timeoutMs: number): Promise<boolean>;
  /** The operations API: the sessions held here among `clientIds` (unknown ones left out). Absent: not served. */
  onDescribeClients?(clientIds: string[], withSubscriptions: boolean): Promise<ClientView[]>;
  /** The operations API: disconnect a client held here (v5 0x98), and end its session with `discardSession`. */
  onKick?(clientId: string, discardSession: boolean): Promise<KickOutcome>;
}

export interface SharedDispatchOptions {
  /** Only a member connected now may take it (offline members would merely queue it). */
  onlineOnly?: boolean;
  /** A member handing the message back, which must not get it again (and gives up its claim of a QoS 2 message). */
  exclude?: string;
  /** The directory epoch under which the node handing it back holds `exclude`. */
  excludeEpoch?: number;
  /** Only this member may take it: a QoS 2 resend going back to the member that took the first copy. */
  member?: string;
}

/** Messages between nodes. */
export interface ClusterTransport {
  /** Starts serving `handlers` on the configured address; returns the bound host:port. */
  start(handlers: ClusterHandlers): Promise<{ address: string }>;
  stop(): Promise<void>;
  /**
   * Sends one message to a peer, batched with others on a long-lived stream per peer.
   * Resolves when the peer acknowledged it (Taken); rejects with PeerUnavailableError
   * when the peer cannot be reached within the retry budget or its bounded buffer is full.
   */
  forward(peer: Peer, message: Message): Promise<Taken>;
  /** As forward, for a message no one waits on (QoS 0): failures are only counted. */
  post(peer: Peer, message: Message): void;
  takeover(peer: Peer, clientId: string, epoch: number): Promise<TakeoverAnswer>;
  dispatchShared(peer: Peer, group: string, filter: string, message: Message, options?: SharedDispatchOptions): Promise<boolean>;
  /**
   * Undefined while the links to these peers have room; else resolves once the congested
   * ones have drained (or failed). Their publishers are not read meanwhile, so a full link
   * pushes back instead of dropping.
   */
  congestion(nodeIds: Iterable<string>): Promise<void> | undefined;
  /** True once the peer's route replica has applied table `version`; false if it had not within `timeoutMs`. */
  awaitRoutes(peer: Peer, version: number, timeoutMs: number): Promise<boolean>;
  /** Forget a peer (it died or left): fail what waits for it and free its buffer. */
  dropPeer(nodeId: string): void;
  /** The operations API: the peer's sessions among `clientIds`, as it sees them. */
  describeClients(peer: Peer, clientIds: string[], withSubscriptions: boolean): Promise<ClientView[]>;
  /** The operations API: the peer disconnects the client, and ends its session with `discardSession`. */
  kick(peer: Peer, clientId: string, discardSession: boolean): Promise<KickOutcome>;
}

/** A change to the cluster route table: node `nodeId` has (add) or no longer has (remove) subscribers for `filter`. */
export interface RouteChange {
  op: 'add' | 'remove';
  filter: string;
  nodeId: string;
}

/** Route changes carry the table's version: every change takes the next one, so replicas apply them in order. */
export interface RouteListener {
  change(change: RouteChange, version: number): void;
  /** After a gap in the change feed (reconnect, restart): the whole table at `version`, replacing the replica. */
  reset(routes: Array<{ filter: string; nodeId: string }>, version: number): void;
}

/**
 * The cluster route table (filter → nodes), held in Redis. A node writes a route on its
 * first local subscriber of a filter and removes it on its last; shared filters are
 * stored whole (`$share/g/f`). Every node keeps a replica fed by `watch`.
 */
export interface RouteStore {
  /** Resolves with a table version at which the route is in the table (a replica at that version or later has it). */
  add(filter: string, nodeId: string): Promise<number>;
  remove(filter: string, nodeId: string): Promise<void>;
  /** Removes every route of a node (it died, or starts afresh). */
  removeNode(nodeId: string): Promise<void>;
  /** Loads the table, calls `listener.reset` with it, then streams changes until `close`. */
  watch(listener: RouteListener): Promise<void>;
  close(): Promise<void>;
}

export interface NodeInfo {
  nodeId: string;
  address: string;
}

/** The node registry: who is alive, where to reach them, and who reaps a dead node. */
export interface NodeRegistry {
  /** Registers this node and keeps its heartbeat alive until `close`. */
  register(self: NodeInfo): Promise<void>;
  /** Nodes with a live heartbeat, this one included. */
  alive(): Promise<NodeInfo[]>;
  /** Every node that joined and is not yet forgotten (a dead one stays until it is reaped), with whether it is alive. */
  members(): Promise<Array<NodeInfo & { alive: boolean }>>;
  /** Calls `onDead` once per node whose heartbeat lapsed, on every surviving node. */
  watchDeaths(onDead: (nodeId: string) => void): void;
  /** True for exactly one caller per dead node: that node reaps it (wills, sessions). */
  claimReap(deadNodeId: string, reaper: string): Promise<boolean>;
  /** After a reap: no watcher reports the node again (unless it registers anew). */
  forget(nodeId: string): Promise<void>;
  /**
   * Stops the heartbeat and leaves. With `handOver`, the node stays known without a
   * heartbeat, so a peer reaps it at once as it would a dead node (adopting its sessions);
   * without, it leaves unseen.
   */
  close(options?: { handOver?: boolean }): Promise<void>;
}

/**
 * Which node holds each session, fenced by an epoch so that racing CONNECTs for one client
 * id on two nodes end with one winner.
 */
export interface SessionDirectory {
  /** Makes `nodeId` the holder of `clientId`; returns the new epoch and the previous holder. */
  claim(clientId: string, nodeId: string): Promise<{ epoch: number; previous?: string }>;
  /**
   * As claim, only while `holder` still holds `clientId` (adopting a dead node's sessions: a
   * client that reconnected elsewhere meanwhile stays where it is); the new epoch, or undefined.
   */
  claimFrom(clientId: string, nodeId: string, holder: string): Promise<number | undefined>;
  /** True while `epoch` is still the latest claim of `clientId`. */
  holds(clientId: string, epoch: number): Promise<boolean>;
  /** The node holding `clientId`, if any. */
  holder(clientId: string): Promise<string | undefined>;
  /** Forgets the holder when a session ends, only if `epoch` is still current. */
  release(clientId: string, epoch: number): Promise<void>;
  /** Client ids held by a node, for adopting them when it dies. */
  heldBy(nodeId: string): Promise<string[]>;
  /**
   * Held clients in (node id, client id) byte order after `after`, those whose id starts with
   * `prefix`, at most `limit` (the operations API's listing). `next`: where the next page
   * starts, undefined after the last.
   */
  page(options: { limit: number; after?: ListPosition; prefix?: string }): Promise<{ entries: ListPosition[]; next?: ListPosition }>;
}

/**
 * Which member of a shared group took each QoS 2 message (by message id), for a while: a
 * publisher's resend after a failure goes back to that member, whose session skips a copy
 * it has, instead of reaching a second member (MQTT 5 4.8.2).
 */
/** A member of a shared group as one node holds it: its client id and that node's directory epoch for it. */
export interface SharedHolder {
  member: string;
  epoch: number;
}

export interface SharedOwners {
  /**
   * Makes `taker` the owner of the message unless another member is on record (one not
   * `replacing`: a member handing its unreceived messages to the others gives them up, but
   * only from a node holding it under the epoch on record or a newer one: a node that lost
   * the member's session to another node cannot give away what that node kept, see `keep`).
   * Resolves with the owner after the call: the taker, or the member that took it first.
   */
  claim(group: string, messageId: string, taker: SharedHolder, replacing?: SharedHolder): Promise<string>;
  /**
   * A node took on the member's session from the store, with the message queued: the message
   * stays the member's (recorded under `holder.epoch`, so an older holder's hand-back still
   * under way cannot give it to another member) unless another member is on record.
   * Resolves with the owner after the call.
   */
  keep(group: string, messageId: string, holder: SharedHolder): Promise<string>;
  owner(group: string, messageId: string): Promise<string | undefined>;
}

/** Wills of connected clients, so a surviving node can publish those of a dead node. */
export interface WillStore {
  set(clientId: string, will: Will): Promise<void>;
  delete(clientId: string): Promise<void>;
  /**
   * The will of a client, left in the store: a node that adopts a session keeps its will
   * there until it is published, so the will outlives that node too.
   */
  get(clientId: string): Promise<Will | undefined>;
  /** Takes (reads and deletes) the will of a client, so it is published once. */
  take(clientId: string): Promise<Will | undefined>;
}
