import type { Delivery } from '@roost/session';

/** What waits for one session; the promise is made with the first delivery, not per CONNECT. */
interface Pending {
  deliveries: Delivery[];
  done?: Promise<void>;
  resolve?: () => void;
  reject?: (error: unknown) => void;
}

const NONE: Delivery[] = [];
const IGNORE = (): void => undefined;

/**
 * Deliveries for sessions this node is taking on: their subscriptions route here before the
 * session is loaded (so nothing published during a takeover finds it routed nowhere), and
 * what arrives meanwhile waits here for it. A QoS 1/2 publisher's ack waits until the
 * session that took these is stored (`settle`), or fails with it. Every CONNECT opens one and
 * few get a delivery: the array and the promise are made with the first.
 */
export class PendingDeliveries {
  private readonly pending = new Map<string, Pending>();

  open(clientId: string): void {
    if (this.pending.has(clientId)) return;
    this.pending.set(clientId, { deliveries: NONE });
  }

  /** Keeps a delivery for a session being taken on; undefined when `clientId` is not. */
  add(clientId: string, delivery: Delivery): Promise<void> | undefined {
    const pending = this.pending.get(clientId);
    if (!pending) return undefined;
    if (pending.deliveries === NONE) pending.deliveries = [];
    pending.deliveries.push(delivery);
    if (!pending.done) {
      pending.done = new Promise<void>((resolve, reject) => ((pending.resolve = resolve), (pending.reject = reject)));
      pending.done.catch(IGNORE); // awaited by publishers, if any
    }
    return pending.done;
  }

  has(clientId: string): boolean {
    return this.pending.has(clientId);
  }

  /**
   * Ends the wait: what arrived, in order, and `settle`, which ties its publishers' acks to
   * `durable` (the session now holding them stored), or fails them without it (the session
   * was not taken on; the publishers are refused and send again).
   */
  take(clientId: string): { deliveries: Delivery[]; settle(durable?: Promise<unknown>): void } {
    const pending = this.pending.get(clientId);
    if (!pending) return NOTHING_PENDING;
    this.pending.delete(clientId);
    const { deliveries, resolve, reject } = pending;
    if (!resolve || !reject) return { deliveries, settle: IGNORE };
    return {
      deliveries,
      settle: (durable) => {
        if (durable) durable.then(() => resolve(), reject);
        else reject(new Error(`session ${clientId} was not taken on`));
      },
    };
  }
}

const NOTHING_PENDING = { deliveries: NONE, settle: IGNORE };
