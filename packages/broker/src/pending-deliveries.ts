import type { Delivery } from '@roost/session';

interface Pending {
  deliveries: Delivery[];
  done: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Deliveries for sessions this node is taking on: their subscriptions route here before the
 * session is loaded (so nothing published during a takeover finds it routed nowhere), and
 * what arrives meanwhile waits here for it. A QoS 1/2 publisher's ack waits until the
 * session that took these is stored (`settle`), or fails with it.
 */
export class PendingDeliveries {
  private readonly pending = new Map<string, Pending>();

  open(clientId: string): void {
    if (this.pending.has(clientId)) return;
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    done.catch(() => undefined); // awaited by publishers, if any
    this.pending.set(clientId, { deliveries: [], done, resolve, reject });
  }

  /** Keeps a delivery for a session being taken on; undefined when `clientId` is not. */
  add(clientId: string, delivery: Delivery): Promise<void> | undefined {
    const pending = this.pending.get(clientId);
    if (!pending) return undefined;
    pending.deliveries.push(delivery);
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
    if (!pending) return { deliveries: [], settle: () => undefined };
    this.pending.delete(clientId);
    return {
      deliveries: pending.deliveries,
      settle: (durable) => {
        if (durable) durable.then(() => pending.resolve(), pending.reject);
        else pending.reject(new Error(`session ${clientId} was not taken on`));
      },
    };
  }
}
