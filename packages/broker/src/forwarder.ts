import { PeerUnavailableError, type Message } from '@roost/protocol';
import type { ClusterTransport, Peer } from './cluster.ts';
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

/** Where the forwarder finds peers and this node's own sessions. */
export interface ForwarderHost {
  /** A peer known to be alive, without I/O. */
  knownPeer(nodeId: string): Peer | undefined;
  /** A peer looked up in the node registry. */
  lookupPeer(nodeId: string): Promise<Peer | undefined>;
  /** Delivers a rerouted copy to this node's sessions; resolves once they have it durably. */
  deliverHere(message: Message): Promise<unknown> | undefined;
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
    const sends: Promise<string | undefined>[] = [];
    for (const nodeId of nodes) sends.push(this.send(nodeId, message).then(() => undefined, () => nodeId));
    return Promise.all(sends).then((outcomes) => {
      const failed = outcomes.filter((nodeId) => nodeId !== undefined);
      return failed.length === 0 ? undefined : this.reroute(message, since, nodes, new Set(failed));
    });
  }

  private post(nodeId: string, message: Message): void {
    const peer = this.host.knownPeer(nodeId);
    if (peer) this.transport.post(peer, message);
    else this.send(nodeId, message).catch(() => undefined); // counted by the transport
  }

  private send(nodeId: string, message: Message): Promise<void> {
    const peer = this.host.knownPeer(nodeId);
    return peer ? this.transport.forward(peer, message) : this.sendToUnknown(nodeId, message);
  }

  /** A route names a node this one has not met (it just joined) or has seen die. */
  private async sendToUnknown(nodeId: string, message: Message): Promise<void> {
    const peer = await this.host.lookupPeer(nodeId);
    if (!peer) throw new PeerUnavailableError(nodeId, 'not alive in the node registry');
    return this.transport.forward(peer, message);
  }

  /**
   * `failed` did not take the message. A failed node that answers again (a pause, a link
   * that recovered) is sent it again. Once a failed node is gone from the replica (reaped),
   * the message is routed again: nodes that took the first copy (this one too) get it marked
   * with the first routing's time and deliver it only to sessions they took on since (the
   * dead node's); nodes that had no route then get all of it. A node neither reaped nor
   * reachable by the deadline fails the message, and the publisher is refused.
   */
  private async reroute(message: Message, since: number, firstPass: ReadonlySet<string>, failed: ReadonlySet<string>): Promise<void> {
    this.rerouted++;
    this.log.info({ topic: message.topic, nodes: [...failed] }, 'a node did not take a message; routing it again');
    const deadline = Date.now() + REROUTE_WAIT_MS;
    const outcomes = await Promise.all([...failed].map((nodeId) => this.settle(nodeId, message, deadline)));
    if (!outcomes.includes('gone')) return;
    const copy: Message = { ...message, reroutedSince: since };
    const sends: Array<Promise<unknown> | undefined> = [this.host.deliverHere(copy)];
    for (const nodeId of this.replica.remoteNodes(message.topic, this.self)) {
      const tookFirst = firstPass.has(nodeId) && !failed.has(nodeId);
      sends.push(this.send(nodeId, tookFirst ? copy : message));
    }
    await Promise.all(sends);
  }

  /** Waits until `nodeId` is reaped ('gone') or takes the message after all ('taken'). */
  private async settle(nodeId: string, message: Message, deadline: number): Promise<'gone' | 'taken'> {
    for (;;) {
      const left = Math.max(0, deadline - Date.now());
      if (await this.replica.gone(nodeId, Math.min(RETRY_EVERY_MS, left))) return 'gone';
      const expired = Date.now() >= deadline;
      if (this.host.knownPeer(nodeId)) {
        try {
          await this.send(nodeId, message);
          return 'taken';
        } catch (error) {
          if (expired) throw error;
        }
      } else if (expired) {
        throw new PeerUnavailableError(nodeId, `neither reaped nor reachable within ${REROUTE_WAIT_MS} ms`);
      }
    }
  }
}
