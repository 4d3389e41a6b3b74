import { PeerUnavailableError, type Message } from '@roost/protocol';
import type { ClusterTransport, Peer, Taken } from './cluster.ts';
import type { Logger } from './options.ts';
import type { RouteReplica } from './route-replica.ts';

/**
 * How long a message for a node that stopped answering waits for that node to be reaped
 * (its sessions routed anew, its routes removed) before the publisher is refused instead.
 * Above a node timeout plus a reap, with room for a slow Redis.
 */
const REROUTE_WAIT_MS = 15_000;
/** How often a failed node that is still alive in the registry is tried again meanwhile. */
const RETRY_EVERY_MS = 1_000;
/** How many times in a row a message is routed again because nodes ask for it (a session moving on and on). */
const ROUTE_AGAIN_ROUNDS = 3;
/** What one node made of a forward: took it (Taken), or failed (its id). */
type Outcome = Taken | string;
/**
 * The nodes that took a copy of one message (this one too), each with the take-on count it
 * was routed under there (TakeOns); undefined for a peer that predates the count.
 */
type Takers = Map<string, number | undefined>;

/** Where the forwarder finds peers and this node's own sessions. */
export interface ForwarderHost {
  /** A peer known to be alive, without I/O. */
  knownPeer(nodeId: string): Peer | undefined;
  /** A peer looked up in the node registry. */
  lookupPeer(nodeId: string): Promise<Peer | undefined>;
  /** Delivers a rerouted copy to this node's sessions; resolves once they have it durably. */
  deliverHere(message: Message): Promise<unknown> | undefined;
  /** This node's take-on count now (TakeOns): what a message routed here in this turn is routed under. */
  takeOns(): number;
}

/**
 * Sends routed messages to the other nodes with subscribers for them, once per node. A QoS
 * 1/2 message whose node fails to take it (it died, left, or its link gave up) is not given
 * up on: it waits until that node's routes are gone from the replica, which happens after
 * its reaper has routed the node's sessions to itself, and is then routed again, so the
 * publisher's ack still means every session has it.
 */
export class Forwarder {
  private readonly self: string;
  private readonly transport: ClusterTransport;
  private readonly replica: RouteReplica;
  private readonly host: ForwarderHost;
  private readonly log: Logger;
  /** Messages routed again after a node failed to take them. */
  rerouted = 0;
  /**
   * Set by `forward` when a link the message went on is congested: resolves once it drained.
   * The broker stops reading the publisher until then (ClusterTransport.congestion).
   */
  congestion: Promise<void> | undefined;

  constructor(self: string, transport: ClusterTransport, replica: RouteReplica, host: ForwarderHost, log: Logger) {
    this.self = self;
    this.transport = transport;
    this.replica = replica;
    this.host = host;
    this.log = log;
  }

  /**
   * QoS 0 goes without a promise per message; QoS 1/2 resolves when every node with
   * subscribers for it has it, and rejects only when a failed node was neither reaped nor
   * reachable again within REROUTE_WAIT_MS.
   */
  forward(message: Message): Promise<unknown> | undefined {
    const nodes = this.replica.remoteNodes(message.topic, this.self);
    this.congestion = undefined;
    if (nodes.size === 0) return undefined;
    this.congestion = this.transport.congestion(nodes);
    if (message.qos === 0) {
      for (const nodeId of nodes) this.post(nodeId, message);
      return undefined;
    }
    const since = Date.now();
    // The broker routed it to this node's sessions in this same turn (Broker.publish).
    const here = this.host.takeOns();
    const targets = [...nodes];
    return this.sendAll(targets, () => message).then((outcomes) => {
      if (outcomes.every((outcome) => typeof outcome !== 'string' && !outcome.again)) return undefined;
      const takers: Takers = new Map([[this.self, here]]);
      const { failed, again } = tally(targets, outcomes, takers);
      return this.reroute(message, since, takers, failed, again);
    });
  }

  private post(nodeId: string, message: Message): void {
    const peer = this.host.knownPeer(nodeId);
    if (peer) this.transport.post(peer, message);
    else this.send(nodeId, message).catch(() => undefined); // counted by the transport
  }

  private send(nodeId: string, message: Message): Promise<Taken> {
    const peer = this.host.knownPeer(nodeId);
    return peer ? this.transport.forward(peer, message) : this.sendToUnknown(nodeId, message);
  }

  /** Sends each node its copy; each outcome is what the node made of it, a failure being its id. */
  private sendAll(nodes: string[], copyFor: (nodeId: string) => Message): Promise<Outcome[]> {
    return Promise.all(nodes.map((nodeId) => this.send(nodeId, copyFor(nodeId)).then((taken): Outcome => taken, (): Outcome => nodeId)));
  }

  /** A route names a node this one has not met (it just joined) or has seen die. */
  private async sendToUnknown(nodeId: string, message: Message): Promise<Taken> {
    const peer = await this.host.lookupPeer(nodeId);
    if (!peer) throw new PeerUnavailableError(nodeId, 'not alive in the node registry');
    return this.transport.forward(peer, message);
  }

  /**
   * `failed` did not take the message. A failed node that answers again (a pause, a link
   * that recovered) is sent it again. Once a failed node is gone from the replica (reaped),
   * the message is routed again: nodes that took a copy (this one too) get it marked with the
   * take-on count they took it under and deliver it only to sessions they took on after that
   * (the dead node's); nodes that had no copy get all of it. A node neither reaped nor
   * reachable by the deadline fails the message, and the publisher is refused. `again`: a
   * node took the message, but a session it was routed for there had moved on meanwhile
   * (MovedSessions): routed again the same way at once, so the session's new node has it.
   */
  private async reroute(message: Message, since: number, takers: Takers, failed: ReadonlySet<string>, again: boolean, rounds = ROUTE_AGAIN_ROUNDS): Promise<void> {
    this.rerouted++;
    if (failed.size > 0) {
      this.log.info({ topic: message.topic, nodes: [...failed] }, 'a node did not take a message; routing it again');
      const deadline = Date.now() + REROUTE_WAIT_MS;
      const outcomes = await Promise.all([...failed].map((nodeId) => this.settle(nodeId, message, since, takers, deadline)));
      if (outcomes.includes('again')) again = true;
      if (!outcomes.includes('gone') && !again) return;
    } else {
      this.log.debug({ topic: message.topic }, 'a node asked for a message to be routed again: a session moved');
    }
    await this.routeAgain(message, since, takers, rounds);
  }

  /**
   * The marked copy here and to every node routed now. A node that fails it or asks again (a
   * node leaving, a session moving on) is dealt with as after the first pass, boundedly.
   */
  private async routeAgain(message: Message, since: number, takers: Takers, rounds: number): Promise<void> {
    const nodes = [...this.replica.remoteNodes(message.topic, this.self)];
    const here = marked(message, since, takers.get(this.self));
    takers.set(this.self, this.host.takeOns()); // deliverHere routes it in this turn
    const delivered = this.host.deliverHere(here);
    const outcomes = await this.sendAll(nodes, (nodeId) => copyFor(nodeId, message, since, takers));
    await delivered;
    const { failed, again } = tally(nodes, outcomes, takers);
    // Asking again is bounded by rounds; a failed node by its reap (it leaves the replica) or the deadline.
    const more = again && rounds > 1;
    if (failed.size === 0 && !more) return;
    return this.reroute(message, since, takers, failed, more, more ? rounds - 1 : rounds);
  }

  /** Waits until `nodeId` is reaped ('gone') or takes its copy after all ('taken'; 'again' when it asks for it to be routed again). */
  private async settle(nodeId: string, message: Message, since: number, takers: Takers, deadline: number): Promise<'gone' | 'taken' | 'again'> {
    for (;;) {
      const left = Math.max(0, deadline - Date.now());
      if (await this.replica.gone(nodeId, Math.min(RETRY_EVERY_MS, left))) return 'gone';
      const expired = Date.now() >= deadline;
      if (this.host.knownPeer(nodeId)) {
        try {
          const taken = await this.send(nodeId, copyFor(nodeId, message, since, takers));
          takers.set(nodeId, taken.takeOns);
          return taken.again ? 'again' : 'taken';
        } catch (error) {
          if (expired) throw error;
        }
      } else if (expired) {
        throw new PeerUnavailableError(nodeId, `neither reaped nor reachable within ${REROUTE_WAIT_MS} ms`);
      }
    }
  }
}

/** Records who took the message (and under which count); the nodes that failed it, and whether one asked for it again. */
function tally(nodes: readonly string[], outcomes: readonly Outcome[], takers: Takers): { failed: Set<string>; again: boolean } {
  const failed = new Set<string>();
  let again = false;
  outcomes.forEach((outcome, i) => {
    if (typeof outcome === 'string') {
      failed.add(outcome);
      return;
    }
    takers.set(nodes[i]!, outcome.takeOns);
    if (outcome.again) again = true;
  });
  return { failed, again };
}

/** What `nodeId` is sent when the message goes again: marked if it took a copy, whole if not. */
function copyFor(nodeId: string, message: Message, since: number, takers: Takers): Message {
  return takers.has(nodeId) ? marked(message, since, takers.get(nodeId)) : message;
}

/**
 * A copy for a node that took one: `takenOnAfter` for the count it took it under,
 * `reroutedSince` (the first routing's time) for a node that predates the count.
 */
function marked(message: Message, since: number, takenOnAfter: number | undefined): Message {
  return takenOnAfter === undefined ? { ...message, reroutedSince: since } : { ...message, reroutedSince: since, takenOnAfter };
}
