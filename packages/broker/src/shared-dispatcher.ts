import { PeerUnavailableError, type Message } from '@roost/protocol';
import type { SharedOrigin } from '@roost/session';
import type { ClusterTransport, Peer, SessionDirectory, SharedDispatchOptions, SharedHolder, SharedOwners } from './cluster.ts';
import type { Logger } from './options.ts';
import type { RouteReplica } from './route-replica.ts';
import { SharedNodeChooser, type SharedStrategy } from './shared-strategy.ts';

/** What the dispatcher needs of its node. */
export interface SharedDispatchHost {
  peer(nodeId: string): Promise<Peer | undefined>;
  /** This node's members (Broker.onSharedDispatch). */
  dispatchHere(group: string, filter: string, message: Message, options: SharedDispatchOptions): Promise<boolean>;
  /** No member anywhere took it. */
  undeliverable(group: string, message: Message): void;
}

export interface SharedDispatchPorts {
  transport: ClusterTransport;
  directory: SessionDirectory;
  sharedOwners: SharedOwners;
  sharedStrategy: SharedStrategy;
  sharedGroupStrategies?: ReadonlyMap<string, SharedStrategy>;
}

/**
 * How long a QoS 2 message follows the member that took it while that member's node is
 * gone: until the member reconnects elsewhere or a reaper adopts its session.
 */
const FOLLOW_OWNER_MS = 15_000;
/** How long a message whose every candidate node failed waits for those nodes' reap (their members adopted elsewhere). */
const REAP_WAIT_MS = 15_000;
const FOLLOW_OWNER_RETRY_MS = 250;
/** How long a node that answers without the member is asked again (the member's CONNECT there may still be resolving). */
const FOLLOW_ABSENT_OWNER_MS = 3_000;

/**
 * Shared subscriptions across the cluster: each matching group gets a message at exactly one
 * member, on any node. A QoS 2 message stays with the member that took it (MQTT 5 4.8.2): the
 * taking node records the member before it stores the member's session (same Redis
 * connection, so a stored session implies a record), and a publisher's resend, or a dispatch
 * whose answer was lost, goes to that member wherever its session is now instead of a second
 * member.
 */
export class SharedDispatcher {
  private readonly self: string;
  private readonly ports: SharedDispatchPorts;
  private readonly replica: RouteReplica;
  private readonly host: SharedDispatchHost;
  private readonly log: Logger;
  private readonly chooser: SharedNodeChooser;

  constructor(self: string, ports: SharedDispatchPorts, replica: RouteReplica, host: SharedDispatchHost, log: Logger) {
    this.self = self;
    this.ports = ports;
    this.replica = replica;
    this.host = host;
    this.log = log;
    this.chooser = new SharedNodeChooser(ports.sharedStrategy, self, ports.sharedGroupStrategies);
  }

  /** `resend`: a QoS 2 message routed before under its id, whose members may have it already. */
  dispatch(message: Message, resend: boolean): Promise<unknown> | undefined {
    const work: Promise<void>[] = [];
    this.replica.sharedGroups(message.topic, (group, filter, nodes) => {
      const order = this.chooser.order(group, filter, nodes, message);
      const toOwner = resend ? this.toOwner(group, filter, message) : Promise.resolve(false);
      const taken = toOwner.then((done) => done || this.dispatchToGroup(group, filter, order, message));
      work.push(taken.then((done) => {
        if (!done) this.host.undeliverable(group, message);
      }));
    });
    return work.length > 0 ? Promise.all(work) : undefined;
  }

  /** A member on this node left with `message` unreceived: another member of its group, on any node; false when none took it. */
  async redispatch(origin: SharedOrigin, message: Message, leaving: SharedHolder): Promise<boolean> {
    const order = this.orderOf(origin.group, origin.filter, message);
    return order.length > 0 ? this.dispatchToGroup(origin.group, origin.filter, order, message, leaving) : false;
  }

  /** The nodes routed for the group now, in the order the strategy offers them the message. */
  private orderOf(group: string, filter: string, message: Message): string[] {
    let order: string[] = [];
    this.replica.sharedGroups(message.topic, (name, inner, nodes) => {
      if (name === group && inner === filter) order = this.chooser.order(group, filter, nodes, message);
    });
    return order;
  }

  /**
   * Offers the message to the nodes in order, first for a connected member only, then for any
   * member: a node whose members are all offline (say, sessions it adopted from a dead node)
   * would otherwise take its turn and queue messages that connected members could process.
   * A node whose call failed is not asked again in the second round (each try can cost a call
   * timeout while a dead peer is not yet reaped); a QoS 2 message it may have taken goes to
   * the member on record, if any.
   */
  private async dispatchToGroup(group: string, filter: string, nodes: string[], message: Message, leaving?: SharedHolder): Promise<boolean> {
    const failed = new Set<string>();
    if (await this.offer(group, filter, nodes, message, failed, leaving)) return true;
    // A member that moved while it was offered: its old node declined, having let it go,
    // and its new node's route reached this replica before that (SUBACK means routed), so
    // the nodes routed now that were not asked are. Else the message would be acknowledged
    // as having no member, and lost.
    if (message.qos > 0 && leaving === undefined) {
      const added = this.orderOf(group, filter, message).filter((nodeId) => !nodes.includes(nodeId));
      if (added.length > 0 && (await this.offer(group, filter, added, message, failed))) return true;
    }
    // No member anywhere, QoS 0 (at most once), or a member handing it back (it stays in
    // that member's session): nothing waits for it.
    if (failed.size === 0 || message.qos === 0 || leaving !== undefined) return false;
    // Members may be on nodes that died: once those are reaped (their sessions adopted or
    // reconnected elsewhere) the group is offered the message again; the publisher is
    // refused rather than acknowledged if it still finds no member.
    await Promise.all([...failed].map((nodeId) => this.replica.gone(nodeId, REAP_WAIT_MS)));
    const again = new Set<string>();
    if (await this.offer(group, filter, this.orderOf(group, filter, message), message, again, leaving)) return true;
    if (again.size === 0) return false;
    throw new PeerUnavailableError([...again].join(','), `no member of shared group ${group} could be reached`);
  }

  /** One offer round trip over `nodes`; the nodes whose call failed are added to `failed`. */
  private async offer(group: string, filter: string, nodes: string[], message: Message, failed: Set<string>, leaving?: SharedHolder): Promise<boolean> {
    const handing = leaving ? { exclude: leaving.member, excludeEpoch: leaving.epoch } : {};
    for (const onlineOnly of [true, false]) {
      for (const nodeId of nodes) {
        if (failed.has(nodeId)) continue;
        try {
          if (nodeId === this.self) {
            if (await this.host.dispatchHere(group, filter, message, { onlineOnly, ...handing })) return true;
            continue;
          }
          const peer = await this.host.peer(nodeId);
          if (!peer) throw new PeerUnavailableError(nodeId, 'not alive in the node registry');
          if (await this.ports.transport.dispatchShared(peer, group, filter, message, { onlineOnly, ...handing })) return true;
        } catch (error) {
          failed.add(nodeId);
          this.log.warn({ err: error, peer: nodeId, group }, 'shared dispatch failed; trying the next node');
          if (await this.toOwner(group, filter, message, leaving?.member)) return true;
        }
      }
    }
    return false;
  }

  /**
   * A QoS 2 message with a member on record goes to that member: on the node holding its
   * session now, waiting (bounded) while that is a node that does not answer (dead, not yet
   * reaped), or one that does not have the member in the group yet (its CONNECT is being
   * resolved there). False when there is no record, the member is `exclude`, or it could not
   * be reached in time: then any member may take it.
   */
  private async toOwner(group: string, filter: string, message: Message, exclude?: string): Promise<boolean> {
    if (message.qos !== 2 || message.id === undefined) return false;
    let member: string | undefined;
    try {
      member = await this.ports.sharedOwners.owner(group, message.id);
    } catch (error) {
      this.log.warn({ err: error, group }, 'a QoS 2 message could not reach the member that took it; any member may take it');
      return false;
    }
    if (member === undefined || member === exclude) return false;
    return this.follow(group, filter, message, member);
  }

  /** Sends a QoS 2 message to `member`, the one on record, as `toOwner` describes; false when it could not. */
  async follow(group: string, filter: string, message: Message, member: string): Promise<boolean> {
    const started = Date.now();
    try {
      for (;;) {
        const holder = await this.ports.directory.holder(member);
        if (holder === undefined) return false;
        let answered = false;
        try {
          if (holder === this.self) {
            if (await this.host.dispatchHere(group, filter, message, { member })) return true;
          } else {
            const peer = await this.host.peer(holder);
            if (peer && (await this.ports.transport.dispatchShared(peer, group, filter, message, { member }))) return true;
          }
          answered = true;
        } catch (error) {
          if (Date.now() - started >= FOLLOW_OWNER_MS) throw error;
        }
        // A holder that answers without the member has it no longer, or not yet: a short wait.
        if (Date.now() - started >= (answered ? FOLLOW_ABSENT_OWNER_MS : FOLLOW_OWNER_MS)) return false;
        await new Promise((resolve) => setTimeout(resolve, FOLLOW_OWNER_RETRY_MS));
      }
    } catch (error) {
      this.log.warn({ err: error, group }, 'a QoS 2 message could not reach the member that took it; any member may take it');
      return false;
    }
  }
}
