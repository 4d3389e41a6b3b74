import { SubscriptionTrie, parseSharedFilter } from '@roost/topics';
import type { RouteChange, RouteListener } from './cluster.ts';

/**
 * This node's copy of the cluster route table, fed by the RouteStore's change feed, so a
 * PUBLISH finds its destination nodes without a Redis round trip.
 */
export class RouteReplica implements RouteListener {
  private direct = new SubscriptionTrie<true>();
  /** Inner filter → group → nodes with members of that group. */
  private shared = new SubscriptionTrie<Set<string>>();
  private byNode = new Map<string, Set<string>>();

  change(change: RouteChange): void {
    if (change.op === 'add') this.add(change.filter, change.nodeId);
    else this.remove(change.filter, change.nodeId);
  }

  reset(routes: Array<{ filter: string; nodeId: string }>): void {
    this.direct = new SubscriptionTrie();
    this.shared = new SubscriptionTrie();
    this.byNode = new Map();
    for (const route of routes) this.add(route.filter, route.nodeId);
  }

  removeNode(nodeId: string): void {
    for (const filter of [...(this.byNode.get(nodeId) ?? [])]) this.remove(filter, nodeId);
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

  /** Every shared group matching `topic`, with the nodes that have members of it. */
  sharedGroups(topic: string, visit: (group: string, filter: string, nodes: ReadonlySet<string>) => void): void {
    this.shared.match(topic, (group, nodes, filter) => visit(group, filter, nodes));
  }

  hasNode(nodeId: string): boolean {
    return this.byNode.has(nodeId);
  }
}
