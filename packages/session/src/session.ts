import type { Message, QoS, SubscriptionOptions } from '@roost/protocol';
import { Fifo } from './fifo.ts';
import { LazyMap } from './lazy-map.ts';

/** One message on its way to one session, with the QoS and flags it is delivered with. */
export interface Delivery {
  message: Message;
  qos: QoS;
  retain: boolean;
  subscriptionIds?: number[];
  /**
   * Set when the delivery came through a shared subscription: a member that leaves with it
   * unacknowledged hands it back to its group for another member (MQTT 5 4.8.2).
   */
  shared?: SharedOrigin;
}

/** The shared subscription `$share/{group}/{filter}` a delivery was picked for. */
export interface SharedOrigin {
  group: string;
  filter: string;
}

/** An outbound QoS 1/2 message awaiting its acknowledgement. */
export interface Inflight {
  delivery: Delivery;
  /** 'publish': waiting for PUBACK/PUBREC; 'pubrel': PUBREL sent, waiting for PUBCOMP. */
  phase: 'publish' | 'pubrel';
}

export type OverflowPolicy = 'drop-oldest' | 'drop-newest';

export const NEVER_EXPIRES = 0xffffffff;

/**
 * How long, and at most how many, message ids a session remembers. A copy routed again
 * (a publisher's resend after its node died, a message rerouted after a subscriber's node
 * died) comes within seconds to tens of seconds of the first; a session that received more
 * identified (QoS 2) messages than the cap in that time could see one twice. Memory follows
 * the traffic: a session that got no QoS 2 message for a minute remembers none.
 */
export const RECENT_IDS_KEPT = 16_384;
export const RECENT_IDS_MS = 60_000;

/** Every session's fresh ids until its first: an empty array each costs 32 bytes per session. */
const NO_IDS: readonly string[] = [];

/**
 * The state that outlives a network connection (MQTT 5 4.1): subscriptions, unacknowledged
 * and queued outbound messages, and inbound QoS 2 packet ids awaiting PUBREL.
 */
export class Session {
  readonly clientId: string;
  /** Seconds after disconnection before the session is discarded; NEVER_EXPIRES never. */
  expiryInterval: number;
  readonly subscriptions: Map<string, SubscriptionOptions> = new LazyMap();
  /** Insertion order is send order: resumption resends in it [MQTT-4.6.0-1]. */
  readonly inflight: Map<number, Inflight> = new LazyMap();
  readonly queue = new Fifo<Delivery>();
  /**
   * QoS 2 PUBLISHes received and not yet released [MQTT-4.3.3-9]: packet id → the message id
   * given on first receipt, so that a resend routed again carries the same id.
   */
  readonly inboundQos2: Map<number, string> = new LazyMap();
  /** Ids of the identified messages delivered to this session lately → when, oldest first. */
  private readonly recentIds: Map<string, number> = new LazyMap();
  /** Ids added since the store last took them, so it writes only those (bounded by the cap). */
  private freshIds: readonly string[] = NO_IDS;
  /** Epoch ms of the last disconnection; undefined while connected. */
  disconnectedAt: number | undefined;
  /**
   * This node's count of sessions taken on (the broker's TakeOns) when this one's routes
   * first went into its router: connected, taken over, or adopted from a dead node; memory
   * only. A message routed again after a node died goes only to sessions taken on after the
   * count its first copy was routed under.
   */
  takenOn = 0;
  private nextPacketId = 1;

  constructor(clientId: string, expiryInterval: number) {
    this.clientId = clientId;
    this.expiryInterval = expiryInterval;
  }

  /**
   * True the first time a message id reaches this session, false when it is a copy of one it
   * already got (a QoS 2 message routed again after a node died mid-routing).
   */
  firstSight(id: string, now = Date.now()): boolean {
    if (this.recentIds.has(id)) return false;
    this.recentIds.set(id, now);
    if (this.freshIds === NO_IDS) this.freshIds = [id];
    else (this.freshIds as string[]).push(id);
    if (this.freshIds.length > 2 * RECENT_IDS_KEPT) this.freshIds = this.freshIds.slice(-RECENT_IDS_KEPT);
    for (const [oldest, at] of this.recentIds) {
      if (this.recentIds.size <= RECENT_IDS_KEPT && now - at < RECENT_IDS_MS) break;
      this.recentIds.delete(oldest);
    }
    return true;
  }

  /** The remembered message ids, oldest first, for the store. */
  get recentMessageIds(): string[] {
    return [...this.recentIds.keys()];
  }

  /** The ids remembered since the last call (at most RECENT_IDS_KEPT), oldest first: a store appends them. */
  takeFreshIds(): readonly string[] {
    const fresh = this.freshIds.length > RECENT_IDS_KEPT ? this.freshIds.slice(-RECENT_IDS_KEPT) : this.freshIds;
    this.freshIds = NO_IDS;
    return fresh;
  }

  /** A packet id not used by any in-flight message, or undefined when all 65535 are taken. */
  allocatePacketId(): number | undefined {
    if (this.inflight.size >= 0xffff) return undefined;
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 0xffff ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  /**
   * The shared-subscription deliveries this session has not received: queued ones, and QoS 1
   * ones sent and not yet acknowledged. A QoS 2 message once sent is this member's to
   * complete when it reconnects (MQTT 5 4.8.2): the client may hold it awaiting PUBREL, so
   * another member getting it would make two. When the member leaves, its group may hand
   * these to another member.
   */
  unreceivedShared(): Delivery[] {
    const found: Delivery[] = [];
    for (const inflight of this.inflight.values()) {
      if (inflight.delivery.shared && inflight.phase === 'publish' && inflight.delivery.qos < 2) found.push(inflight.delivery);
    }
    for (const delivery of this.queue) if (delivery.shared) found.push(delivery);
    return found;
  }

  /** Removes these deliveries where they are still queued or unacknowledged. */
  forget(deliveries: ReadonlySet<Delivery>): void {
    for (const [id, inflight] of this.inflight) {
      if (inflight.phase === 'publish' && deliveries.has(inflight.delivery)) this.inflight.delete(id);
    }
    // A hand-back forgets its messages one by one from the head: no rebuild of the queue each time.
    while (this.queue.length > 0 && deliveries.has(this.queue.peek()!)) {
      this.queue.shift();
      if (deliveries.size === 1) return;
    }
    const kept: Delivery[] = [];
    for (let next = this.queue.shift(); next; next = this.queue.shift()) if (!deliveries.has(next)) kept.push(next);
    for (const next of kept) this.queue.push(next);
  }

  /**
   * Queues a delivery for later, keeping at most `limit` entries.
   * Returns the delivery dropped to make room (or the refused one), if any.
   */
  enqueue(delivery: Delivery, limit: number, policy: OverflowPolicy): Delivery | undefined {
    if (this.queue.length < limit) {
      this.queue.push(delivery);
      return undefined;
    }
    if (policy === 'drop-newest' || limit === 0) return delivery;
    const dropped = this.queue.shift();
    this.queue.push(delivery);
    return dropped;
  }
}
