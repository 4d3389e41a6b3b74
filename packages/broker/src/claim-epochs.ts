/**
 * The directory epoch under which this node claimed each client id (cluster mode), and a way
 * to wait until this node's own claim is newer than another node's.
 */
export class ClaimEpochs extends Map<string, number> {
  private readonly waiters = new Map<string, Set<{ epoch: number; wake: () => void }>>();

  override set(clientId: string, epoch: number): this {
    super.set(clientId, epoch);
    const waiting = this.waiters?.get(clientId);
    for (const waiter of waiting ?? []) if (epoch > waiter.epoch) waiter.wake();
    return this;
  }

  /** True when this node claimed `clientId` after the claim that has `epoch`. */
  newerThan(clientId: string, epoch: number): boolean {
    return (this.get(clientId) ?? 0) > epoch;
  }

  /**
   * Waits for `done`, or until this node claims `clientId` under an epoch above `epoch`
   * (whichever comes first); true in the second case.
   */
  async outclaimedOr(clientId: string, epoch: number, done: Promise<unknown>): Promise<boolean> {
    if (this.newerThan(clientId, epoch)) return true;
    let waiter: { epoch: number; wake: () => void } | undefined;
    const outclaimed = new Promise<void>((wake) => (waiter = { epoch, wake }));
    let waiting = this.waiters.get(clientId);
    if (!waiting) this.waiters.set(clientId, (waiting = new Set()));
    waiting.add(waiter!);
    try {
      await Promise.race([done, outclaimed]);
    } finally {
      waiting.delete(waiter!);
      if (waiting.size === 0) this.waiters.delete(clientId);
    }
    return this.newerThan(clientId, epoch);
  }
}
