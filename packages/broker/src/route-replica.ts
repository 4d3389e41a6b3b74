import { SubscriptionTrie, parseSharedFilter } from '@roost/topics';
import type { RouteChange, RouteListener } from './cluster.ts';

/** A wait for the replica to reach a state: checked after every change, ended by its timer otherwise. */
interface Waiter {
  reached: () => boolean;
  resolve: (reached: boolean) => void;
  timer: NodeJS.Timeout;
}

/**
 * This node's copy of the cluster route table, fed by the RouteStore's change feed, so a
 * PUBLISH finds its destination nodes without a Redis round trip. It knows the table version
 * it reflects, so a peer can wait until it has applied a route (SUBACK means routed).
 */
export class RouteReplica implements RouteListener {
  private direct = new SubscriptionTrie<true>();
  /** Inner filter → group → nodes with members of that group. */
  private shared = new SubscriptionTrie<Set<string>>();
  private byNode = new Map<string, Set<string>>();
  /** The table version applied last (a Redis restarted empty starts the count again). */
  private version = 0;
  private readonly waiters = new Set<Waiter>();

  change(change: RouteChange, version: number): void {
    if (change.op === 'add') this.add(change.filter, change.nodeId);
    else this.remove(change.filter, change.nodeId);
    this.version = version;
    this.wake();
  }

  reset(routes: Array<{ filter: string; nodeId: string }>, version: number): void {
    this.direct = new SubscriptionTrie();
    this.shared = new SubscriptionTrie();
    this.byNode = new Map();
    for (const route of routes) this.add(route.filter, route.nodeId);
    this.version = version;
    this.wake();
  }

  /** True once the table `version` is applied; false if it was not within `timeoutMs`. */
  reached(version: number, timeoutMs: number): Promise<boolean> {
    return this.until(() => this.version >= version, timeoutMs);
  }

  /** True once no route names `nodeId` (its reaper moved its sessions and removed its routes); false after `timeoutMs`. */
  gone(nodeId: string, timeoutMs: number): Promise<boolean> {
    return this.until(() => !this.byNode.has(nodeId), timeoutMs);
  }

  private until(reached: () => boolean, timeoutMs: number): Promise<boolean> {
    if (reached()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        reached,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      // A wait keeps nothing alive: a leaving node's last reroutes must not hold its exit.
      waiter.timer.unref();
      this.waiters.add(waiter);
    });
  }

  private wake(): void {
    for (const waiter of this.waiters) {
      if (!waiter.reached()) continue;
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
      waiter.resolve(true);
    }
  }

  /** Ends every wait (false): the node is stopping. */
  close(): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.waiters.clear();
  }

  private add(filter: string, nodeId: string): void {
    let filters = this.byNode.get(nodeId);
    if (!filters) this.byNode.set(nodeId, (filters = new Set()));
    filters.add(filter);
    const share = parseSharedFilter(filter);
    if (!share) {
      this.direct.add(filter, nodeId, true);
      return;
    }
    const nodes = this.shared.get(share.filter, share.group) ?? new Set<string>();
    nodes.add(nodeId);
    this.shared.add(share.filter, share.group, nodes);
  }

  private remove(filter: string, nodeId: string): void {
    const filters = this.byNode.get(nodeId);
    filters?.delete(filter);
    if (filters?.size === 0) this.byNode.delete(nodeId);
    const share = parseSharedFilter(filter);
    if (!share) {
      this.direct.remove(filter, nodeId);
      return;
    }
    const nodes = this.shared.get(share.filter, share.group);
    if (!nodes) return;
    nodes.delete(nodeId);
    if (nodes.size === 0) this.shared.remove(share.filter, share.group);
  }

  /** Nodes other than `self` with direct subscribers for `topic`: each gets the message once. */
  remoteNodes(topic: string, self: string): Set<string> {
    const nodes = new Set<string>();
    this.direct.match(topic, (nodeId) => {
      if (nodeId !== self) nodes.add(nodeId);
    });
    return nodes;
  }

  /** True when any node, `self` too, has a subscriber (direct or shared) for `topic`. */
  routed(topic: string): boolean {
    let found = false;
    this.direct.match(topic, () => (found = true));
    if (!found) this.shared.match(topic, () => (found = true));
    return found;
  }

  /** Every shared group matching `topic`, with the nodes that have members of it. */
  sharedGroups(topic: string, visit: (group: string, filter: string, nodes: ReadonlySet<string>) => void): void {
    this.shared.match(topic, (group, nodes, filter) => visit(group, filter, nodes));
  }
}
