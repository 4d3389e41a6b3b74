import type { Delivery, OverflowPolicy, Session } from './session.ts';

export interface QueueLimits {
  maxQueuedMessages: number;
  queueOverflow: OverflowPolicy;
}

/**
 * Where sessions live between connections. The broker owns this interface; the embedded
 * store keeps Session objects in memory, the Redis store (cluster mode) serialises them.
 */
export interface SessionStore {
  /** True when sessions outlive this process (Redis): the broker then writes changes through. */
  readonly persistent: boolean;
  get(clientId: string): Promise<Session | undefined>;
  put(session: Session): Promise<void>;
  delete(clientId: string): Promise<void>;
  /** Queues a delivery for an offline session; returns what the overflow policy dropped. */
  enqueue(clientId: string, delivery: Delivery, limits: QueueLimits): Promise<Delivery | undefined>;
  /** Sessions that are disconnected, for expiry bookkeeping at start-up. */
  offline(): AsyncIterable<Session>;
  count(): Promise<number>;
}
