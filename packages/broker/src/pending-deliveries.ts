import type { Delivery } from '@roost/session';

/** What arrived for one session being taken on, and the promise its publishers wait on. */
interface Waiting {
  deliveries: Delivery[];
  done: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const NONE: readonly Delivery[] = [];
const IGNORE = (): void => undefined;
const NOTHING_PENDING = { deliveries: NONE, settle: IGNORE };

/**
 * Deliveries for sessions this node is taking on: their subscriptions route here before the
 * session is loaded (so nothing published during a takeover finds it routed nowhere), and
 * what arrives meanwhile waits here for it. A QoS 1/2 publisher's ack waits until the
 * session that took these is stored (`settle`), or fails with it. Every CONNECT opens one and
 * few get a delivery: what waits is made with the first (null until then).
 */
export class PendingDeliveries {
  private readonly pending = new Map<string, Waiting | null>();

  open(clientId: string): void {
    if (this.pending.has(clientId)) return;
    this.pending.set(clientId, null);
  }

  /** Keeps a delivery for a session being taken on; undefined when `clientId` is not. */
  add(clientId: string, delivery: Delivery): Promise<void> | undefined {
    let waiting = this.pending.get(clientId);
    if (waiting === undefined) return undefined;
    waiting ??= this.startWaiting(clientId);
    waiting.deliveries.push(delivery);
    return waiting.done;
  }

  has(clientId: string): boolean {
    return this.pending.has(clientId);
  }

  /**
   * Ends the wait: what arrived, in order, and `settle`, which ties its publishers' acks to
   * `durable` (the session now holding them stored), or fails them without it (the session
   * was not taken on; the publishers are refused and send again).
   */
  take(clientId: string): { deliveries: readonly Delivery[]; settle(durable?: Promise<unknown>): void } {
    const waiting = this.pending.get(clientId);
    this.pending.delete(clientId);
    if (!waiting) return NOTHING_PENDING;
    const { deliveries, resolve, reject } = waiting;
    return {
      deliveries,
      settle: (durable) => {
        if (durable) durable.then(() => resolve(), reject);
        else reject(new Error(`session ${clientId} was not taken on`));
      },
    };
  }

  private startWaiting(clientId: string): Waiting {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    done.catch(IGNORE); // awaited by publishers, if any
    const waiting: Waiting = { deliveries: [], done, resolve, reject };
    this.pending.set(clientId, waiting);
    return waiting;
  }
}
