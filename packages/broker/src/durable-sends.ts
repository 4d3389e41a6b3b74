import type { Action } from './actions.ts';

/** What a deferred send needs of a connection (Connection implements it). */
export interface SendTarget {
  run(actions: Action[]): void;
}

/**
 * QoS 2 PUBLISHes to connected subscribers in cluster mode go to the socket only once the
 * session write that records their packet ids is durable. Written earlier, a node killed in
 * between leaves a stored session without the in-flight record while the client holds the
 * packet id awaiting PUBREL: the resumed session reuses that id, and the client takes the
 * new message for a duplicate of the old one (lost), or a shared message with no durable
 * owner goes to a second member. QoS 0/1 need no wait (a QoS 1 copy seen early is at worst a
 * duplicate). Sends to one connection keep their order.
 */
export class DurableSends {
  private readonly last = new WeakMap<SendTarget, Promise<void>>();

  /** Runs `actions` on `target` once `durable` settles, after the sends deferred before it. */
  after(target: SendTarget, actions: Action[], durable: Promise<void>): void {
    const previous = this.last.get(target);
    const ready = previous ? Promise.all([previous, durable]) : durable;
    // A failed write is counted and logged by the keeper; the client still gets its message.
    const sent = ready.then(
      () => target.run(actions),
      () => target.run(actions),
    );
    this.last.set(target, sent);
    void sent.finally(() => {
      if (this.last.get(target) === sent) this.last.delete(target);
    });
  }
}
