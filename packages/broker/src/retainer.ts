import { isExpired, type Message, type QoS, type SubscriptionOptions } from '@roost/protocol';
import { MemoryRetainedStore, type Delivery, type RetainedStore } from '@roost/session';
import type { Connection } from './connection.ts';
import type { Logger } from './options.ts';

/** $SYS topics describe this node: retained here, never stored cluster-wide nor forwarded. */
const isSysTopic = (topicOrFilter: string) => topicOrFilter === '$SYS' || topicOrFilter.startsWith('$SYS/');

/**
 * Retained messages: kept in the store (Redis in a cluster, so every node sees them; $SYS ones
 * in this node's memory), and replayed to a new subscription after its SUBACK.
 */
export class Retainer {
  private readonly store: RetainedStore;
  private readonly sys = new MemoryRetainedStore();
  private readonly log: Logger;

  constructor(store: RetainedStore, log: Logger) {
    this.store = store;
    this.log = log;
  }

  count(): Promise<number> {
    return this.store.count();
  }

  retain(message: Message): Promise<void> {
    // [MQTT-3.3.1-6] an empty retained payload clears; [MQTT-3.3.1-5] otherwise it replaces.
    const store = isSysTopic(message.topic) ? this.sys : this.store;
    return message.payload.length === 0 ? store.delete(message.topic) : store.set({ ...message, origin: undefined, id: undefined });
  }

  /**
   * Sends what `filter` matches to a new subscription, at the lower of the stored and granted
   * QoS [MQTT-3.3.1-8]. A long replay waits for the client's socket rather than dropping QoS 0.
   */
  async replay(connection: Connection, filter: string, options: SubscriptionOptions): Promise<void> {
    const store = isSysTopic(filter) ? this.sys : this.store;
    let messages: Message[];
    try {
      messages = await store.match(filter);
    } catch (error) {
      this.log.warn({ err: error, filter }, 'retained lookup failed');
      return;
    }
    for (const message of messages) {
      const backlog = connection.writable();
      if (backlog) await backlog;
      if (connection.closed) return;
      if (isExpired(message, Date.now())) continue;
      const delivery: Delivery = { message, qos: Math.min(message.qos, options.qos) as QoS, retain: true };
      if (options.subscriptionId !== undefined) delivery.subscriptionIds = [options.subscriptionId];
      connection.deliver(delivery);
    }
  }
}
