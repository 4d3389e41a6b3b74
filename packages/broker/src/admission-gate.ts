import { Fifo } from '@roost/session';

/**
 * At most `limit` tasks at once; the rest wait in arrival order. A cluster node's CONNECTs go
 * through one: each waits on Redis round trips, and what hundreds of them allocate while
 * waiting outlives scavenges and grows the old generation (10k idle connects with 500 in
 * flight left ~7 KB per connection resident, with 64 in flight ~3.9 KB). Fewer in flight
 * wait less each (Redis answers them just as fast), so the connects take no longer.
 */
export class AdmissionGate {
  private active = 0;
  private readonly waiting = new Fifo<() => void>();
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Resolves once the caller holds a slot; undefined (no promise) when one was free. The caller releases it once. */
  enter(): Promise<void> | undefined {
    if (this.active < this.limit) {
      this.active++;
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives a slot back: the longest waiting caller gets it. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next(); // the slot passes on: `active` stays
    else this.active--;
  }

  get queued(): number {
    return this.waiting.length;
  }
}
