import { SubscriptionTrie, parseSharedFilter } from '@roost/topics';
import type { Message, QoS, SubscriptionOptions } from '@roost/protocol';
import type { Delivery, SharedOrigin } from '@roost/session';
import { SharedGroup } from './shared-group.ts';

/**
 * The local subscription index: which sessions on this node want which filters.
 * Direct subscriptions are keyed by client id; `$share/{group}/{filter}` ones by group,
 * and each group hands every message to one member.
 */
export class Router {
  private readonly direct = new SubscriptionTrie<SubscriptionOptions>();
  private readonly shared = new SubscriptionTrie<SharedGroup>();

  /** Every group, so counting shared members needs no walk of the trie. */
  private readonly groups = new Set<SharedGroup>();

  get subscriptionCount(): number {
    let total = this.direct.size;
    for (const group of this.groups) total += group.size;
    return total;
  }

  /** Adds a subscription; true when it is this node's first for the filter (the cluster route appears). */
  add(clientId: string, filter: string, options: SubscriptionOptions): boolean {
    const share = parseSharedFilter(filter);
    if (!share) return this.direct.add(filter, clientId, options);
    let group = this.shared.get(share.filter, share.group);
    const first = group === undefined;
    if (!group) {
      group = new SharedGroup();
      this.shared.add(share.filter, share.group, group);
      this.groups.add(group);
    }
    group.set(clientId, options);
    return first;
  }

  /** Removes a subscription; true when it was this node's last for the filter. */
  remove(clientId: string, filter: string): boolean {
    const share = parseSharedFilter(filter);
    if (!share) return this.direct.remove(filter, clientId);
    const group = this.shared.get(share.filter, share.group);
    if (!group || !group.has(clientId)) return false;
    group.delete(clientId);
    if (group.size > 0) return false;
    this.shared.remove(share.filter, share.group);
    this.groups.delete(group);
    return true;
  }

  /**
   * One member of a local shared group for a message the cluster dispatched here; with
   * `only`, that member or none (a QoS 2 message going back to the member that took it).
   */
  pickShared(
    group: string,
    filter: string,
    message: Message,
    isOnline: (clientId: string) => boolean,
    exclude?: string,
    only?: string,
  ): [string, Delivery] | undefined {
    const members = this.shared.get(filter, group);
    const member = only === undefined ? members?.pick(isOnline, exclude) : members?.get(only);
    if (!member) return undefined;
    const deliveries = new Map<string, Delivery>();
    merge(deliveries, member.clientId, message, member.options, { group, filter });
    return [member.clientId, deliveries.get(member.clientId)!];
  }

  /**
   * One delivery per interested session: overlapping subscriptions of one client merge into
   * a single message at the highest granted QoS, carrying every subscription identifier
   * (MQTT 5 3.3.4), and each shared group picks one member.
   */
  route(message: Message, isOnline: (clientId: string) => boolean, withShared = true): Map<string, Delivery> {
    const deliveries = new Map<string, Delivery>();
    this.direct.match(message.topic, (clientId, options) => {
      if (options.noLocal && message.origin === clientId) return; // [MQTT-3.8.3-3]
      merge(deliveries, clientId, message, options);
    });
    if (!withShared) return deliveries;
    this.shared.match(message.topic, (name, group, filter) => {
      const member = group.pick(isOnline);
      if (member) merge(deliveries, member.clientId, message, member.options, { group: name, filter });
    });
    return deliveries;
  }
}

function merge(deliveries: Map<string, Delivery>, clientId: string, message: Message, options: SubscriptionOptions, shared?: SharedOrigin): void {
  const qos = Math.min(message.qos, options.qos) as QoS; // [MQTT-3.8.4-8]
  // [MQTT-3.3.1-12/13] the retain flag survives forwarding only with Retain As Published.
  const retain = options.retainAsPublished && message.retain;
  const existing = deliveries.get(clientId);
  if (!existing) {
    const delivery: Delivery = { message, qos, retain };
    if (options.subscriptionId !== undefined) delivery.subscriptionIds = [options.subscriptionId];
    // Only a copy the client gets through the shared subscription alone is its group's to take back.
    if (shared) delivery.shared = shared;
    deliveries.set(clientId, delivery);
    return;
  }
  if (qos > existing.qos) existing.qos = qos;
  if (retain) existing.retain = true;
  if (options.subscriptionId !== undefined) (existing.subscriptionIds ??= []).push(options.subscriptionId);
}
