import type { Message } from '@roost/protocol';
import type { SharedOrigin } from '@roost/session';
import type {
  ClusterHandlers,
  ClusterTransport,
  NodeRegistry,
  Peer,
  RouteStore,
  SessionDirectory,
  SharedHolder,
  SharedOwners,
  WillStore,
} from './cluster.ts';
import { Forwarder } from './forwarder.ts';
import type { LocalClients } from './local-clients.ts';
import type { Logger } from './options.ts';
import { RouteReplica } from './route-replica.ts';
import { SharedDispatcher } from './shared-dispatcher.ts';
import type { SharedStrategy } from './shared-strategy.ts';
import type { TakeOns } from './take-ons.ts';

export interface BrokerCluster {
  transport: ClusterTransport;
  routes: RouteStore;
  registry: NodeRegistry;
  directory: SessionDirectory;
  wills: WillStore;
  sharedOwners: SharedOwners;
  sharedStrategy: SharedStrategy;
  /** Per share name, overriding `sharedStrategy`. */
  sharedGroupStrategies?: ReadonlyMap<string, SharedStrategy>;
  /**
   * How long a SUBSCRIBE waits for each peer to apply its new route before the SUBACK goes
   * anyway (a peer that does not answer in time is dying and reloads its routes when it
   * returns). Default 3000; the node sets ROOST_NODE_TIMEOUT.
   */
  routeSyncTimeoutMs?: number;
}

/** What the cluster asks of the local broker. */
export interface ClusterHost extends Omit<ClusterHandlers, 'onAwaitRoutes' | 'onDescribeClients' | 'onKick'> {
  /** Adopts the sessions and wills of a dead node (called on the one node that won the reap). */
  adoptNode(deadNodeId: string): Promise<void>;
  /** A shared message no member anywhere could take. */
  sharedUndeliverable(group: string, message: Message): void;
  /** A copy routed again after a node died (`reroutedSince` set): this node's sessions get it; resolves once durable. */
  deliverRerouted(message: Message): Promise<unknown> | undefined;
  /** Sessions taken on here so far: the count a message routed here now is routed under. */
  readonly takeOns: TakeOns;
  /** This node's clients, for the operations API calls of peers. */
  readonly localClients: LocalClients;
}

const DEFAULT_ROUTE_SYNC_TIMEOUT_MS = 3000;
/** How long a CONNECT keeps asking a live holder that does not answer to hand its session over. */
const TAKEOVER_TRIES_MS = 10_000;
const TAKEOVER_RETRY_MS = 200;

/**
 * One node's membership in the cluster: the route replica, forwarding to peers, shared
 * subscription dispatch, and reacting to dead nodes. The broker calls it; it calls the ports.
 */
export class ClusterNode {
  readonly nodeId: string;
  readonly ports: BrokerCluster;
  private readonly replica = new RouteReplica();
  private readonly forwarder: Forwarder;
  private readonly shared: SharedDispatcher;
  private readonly peers = new Map<string, Peer>();
  private readonly log: Logger;
  private readonly routeSyncTimeoutMs: number;
  private host: ClusterHost | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(nodeId: string, ports: BrokerCluster, log: Logger) {
    this.nodeId = nodeId;
    this.ports = ports;
    this.log = log;
    this.routeSyncTimeoutMs = ports.routeSyncTimeoutMs ?? DEFAULT_ROUTE_SYNC_TIMEOUT_MS;
    this.shared = new SharedDispatcher(nodeId, ports, this.replica, {
      peer: (peerId) => this.peer(peerId),
      dispatchHere: (group, filter, message, options) => this.host!.onSharedDispatch(group, filter, message, options),
      undeliverable: (group, message) => this.host!.sharedUndeliverable(group, message),
    }, log);
    this.forwarder = new Forwarder(nodeId, ports.transport, this.replica, {
      knownPeer: (peerId) => this.peers.get(peerId),
      lookupPeer: (peerId) => this.peer(peerId),
      deliverHere: (message) => this.host!.deliverRerouted(message),
      takeOns: () => this.host!.takeOns.count,
    }, log);
  }

  /** Messages routed again after a node failed to take them. */
  get rerouted(): number {
    return this.forwarder.rerouted;
  }

  /**
   * Serves peers, registers, loads the route table and starts following it. MQTT clients
   * come only after this (the node is not ready before), so a publisher here never meets an
   * empty replica.
   */
  async start(host: ClusterHost): Promise<void> {
    this.host = host;
    const { address } = await this.ports.transport.start({
      onForward: (messages, fromNode, routedAt) => host.onForward(messages, fromNode, routedAt),
      onTakeover: (clientId, epoch) => host.onTakeover(clientId, epoch),
      onSharedDispatch: (group, filter, message, options) => host.onSharedDispatch(group, filter, message, options),
      onAwaitRoutes: (version, timeoutMs) => this.replica.reached(version, Math.min(timeoutMs, this.routeSyncTimeoutMs)),
      onDescribeClients: async (clientIds, withSubscriptions) => host.localClients.describe(clientIds, withSubscriptions),
      onKick: (clientId, discardSession) => host.localClients.kick(clientId, discardSession),
    });
    // Routes a previous incarnation of this node id left behind are stale: start clean.
    await this.ports.routes.removeNode(this.nodeId);
    await this.ports.registry.register({ nodeId: this.nodeId, address });
    await this.ports.routes.watch(this.replica);
    await this.refreshPeers();
    this.refreshTimer = setInterval(() => void this.refreshPeers(), 1000);
    this.refreshTimer.unref();
    this.ports.registry.watchDeaths((dead) => void this.onDead(dead));
    this.log.info({ address }, 'joined cluster');
  }

  /**
   * Leaves the cluster, handing over what this node held: the broker has flushed its
   * sessions; the transport stops (peers' messages for this node wait for the reap), then the
   * heartbeat goes while the node stays known, so a peer reaps it as it would a dead node:
   * adopts its offline sessions with their expiry and wills, routes them to itself, then
   * removes this node's routes. Until then the routes stay, so nothing published meanwhile
   * finds its subscribers unrouted.
   */
  async stop(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.replica.close();
    await this.ports.routes.close();
    await this.ports.transport.stop();
    try {
      await this.ports.registry.close({ handOver: true });
    } catch (error) {
      // Redis is unreachable: the node still stops (its sessions were flushed as far as they
      // could be), and the others reap it once its heartbeat entry expires.
      this.log.warn({ err: error }, 'could not leave the node registry; the other nodes reap this one when its heartbeat lapses');
    }
  }

  private refreshPeers(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const alive = await this.ports.registry.alive();
        for (const node of alive) this.peers.set(node.nodeId, node);
        // A peer whose heartbeat lapsed may be reaped and forgotten by another node before this
        // one's death poll sees it: its link is dropped here too, so what waits on it fails now
        // and is routed again after the reap (Forwarder) instead of after the link's retry budget.
        const ids = new Set(alive.map((node) => node.nodeId));
        for (const nodeId of [...this.peers.keys()]) {
          if (ids.has(nodeId)) continue;
          this.peers.delete(nodeId);
          this.ports.transport.dropPeer(nodeId);
        }
      } catch (error) {
        this.log.warn({ err: error }, 'node registry unavailable');
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /**
   * A node's heartbeat lapsed. Its routes stay in the replica until its reaper removes them
   * (after routing its sessions to itself), so messages for its sessions are never routed
   * nowhere meanwhile: forwards to it fail and wait for the reap (Forwarder).
   */
  private async onDead(nodeId: string): Promise<void> {
    if (nodeId === this.nodeId) return;
    this.log.warn({ deadNode: nodeId }, 'node died');
    this.peers.delete(nodeId);
    this.ports.transport.dropPeer(nodeId);
    try {
      if (!(await this.ports.registry.claimReap(nodeId, this.nodeId))) return;
      await this.host!.adoptNode(nodeId);
      await this.ports.routes.removeNode(nodeId);
      await this.ports.registry.forget(nodeId);
      this.log.info({ deadNode: nodeId }, 'reaped dead node');
    } catch (error) {
      this.log.error({ err: error, deadNode: nodeId }, 'reaping a dead node failed');
    }
  }

  /**
   * After this node's heartbeat lapsed (Redis lost its data, or a pause outlived the
   * timeout), peers may have reaped it: write its routes again.
   */
  async reassertRoutes(filters: Iterable<string>): Promise<void> {
    await Promise.all([...filters].map((filter) => this.ports.routes.add(filter, this.nodeId)));
  }

  /**
   * Writes the routes of filters new to this node and resolves once every live peer has
   * applied them, so a message published anywhere after this resolves is routed here
   * (SUBACK means routed). The registry is read after the writes: a node that registered
   * later loads a table that has them already.
   */
  async routesAdded(filters: readonly string[]): Promise<void> {
    if (filters.length === 0) return;
    const versions = await Promise.all(filters.map((filter) => this.ports.routes.add(filter, this.nodeId)));
    const version = Math.max(...versions);
    const alive = await this.ports.registry.alive();
    await Promise.all(alive.map(async (peer) => {
      if (peer.nodeId === this.nodeId) return;
      this.peers.set(peer.nodeId, peer);
      try {
        if (await this.ports.transport.awaitRoutes(peer, version, this.routeSyncTimeoutMs)) return;
        this.log.warn({ peer: peer.nodeId, version }, 'peer did not apply a route in time');
      } catch (error) {
        this.log.warn({ err: error, peer: peer.nodeId, version }, 'peer did not answer a route sync');
      }
    }));
  }

  routeRemoved(filter: string): Promise<void> {
    return this.ports.routes.remove(filter, this.nodeId);
  }

  private async peer(nodeId: string): Promise<Peer | undefined> {
    if (!this.peers.has(nodeId)) await this.refreshPeers();
    return this.peers.get(nodeId);
  }

  /** True when some node, this one included, subscribes to `topic` (for the no-subscribers drop count). */
  routed(topic: string): boolean {
    return this.replica.routed(topic);
  }

  /** Sends the message once to every other node with direct subscribers for its topic (Forwarder). */
  forward(message: Message): Promise<unknown> | undefined {
    return this.forwarder.forward(message);
  }

  /** After `forward`: resolves once the links it used are no longer congested; undefined when none is. */
  get congestion(): Promise<void> | undefined {
    return this.forwarder.congestion;
  }

  /** Every matching shared group gets the message at exactly one member, anywhere in the cluster (SharedDispatcher). */
  dispatchShared(message: Message, resend = false): Promise<unknown> | undefined {
    return this.shared.dispatch(message, resend);
  }

  /** A QoS 2 message another member claimed first goes to that member, wherever its session is (SharedDispatcher). */
  followOwner(group: string, filter: string, message: Message, member: string): Promise<boolean> {
    return this.shared.follow(group, filter, message, member);
  }

  /** A member on this node left with `message` unreceived: another member of its group gets it (SharedDispatcher). */
  redispatchShared(origin: SharedOrigin, message: Message, leaving: SharedHolder): Promise<boolean> {
    return this.shared.redispatch(origin, message, leaving);
  }

  /** True when the holder answered; false when it is gone or unreachable (its last flushed state is in the store). */
  /**
   * 'handed' when the holder handed the session over; 'gone' when it is not alive (dead, or
   * gone), so its last flushed state in the store is the session; 'superseded' when the holder
   * claimed the client after this node did (racing CONNECTs: this one lost). A holder alive in the registry that
   * does not answer is asked again: resuming from the store while it still holds the session
   * would leave two holders, each storing what the other does not see. Throws when it is
   * still alive and silent after TAKEOVER_TRIES_MS (the CONNECT then fails and is retried).
   */
  async takeover(nodeId: string, clientId: string, epoch: number): Promise<'handed' | 'gone' | 'superseded'> {
    const deadline = Date.now() + TAKEOVER_TRIES_MS;
    for (let attempt = 0; ; attempt++) {
      const peer = attempt === 0 ? await this.peer(nodeId) : await this.alivePeer(nodeId);
      if (!peer) return 'gone';
      try {
        const answer = await this.ports.transport.takeover(peer, clientId, epoch);
        return answer.superseded ? 'superseded' : 'handed';
      } catch (error) {
        if (Date.now() >= deadline) throw error;
        this.log.warn({ err: error, peer: nodeId, clientId }, 'takeover call failed; asking again while the holder is alive');
        await new Promise((resolve) => setTimeout(resolve, TAKEOVER_RETRY_MS));
      }
    }
  }

  /** The peer if the registry has it alive now (not from the cache: a dead node's entry lingers there until it is reported). */
  private async alivePeer(nodeId: string): Promise<Peer | undefined> {
    const alive = await this.ports.registry.alive();
    return alive.find((node) => node.nodeId === nodeId);
  }
}
