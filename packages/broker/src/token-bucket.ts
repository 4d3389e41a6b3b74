/**
 * A token bucket of `burst` tokens refilled at `rate` tokens a second, kept as one number: the
 * time at which it is full again (the generic cell rate algorithm). It refills lazily, so a
 * bucket costs no timer, and one left alone is full by arithmetic.
 */
export class TokenBucket {
  private readonly msPerToken: number;
  private readonly burstMs: number;
  /** When the bucket is full again; at or before now, it is full. */
  private fullAt = 0;

  constructor(rate: number, burst: number) {
    if (!(rate > 0) || !(burst > 0)) throw new RangeError(`token bucket needs a positive rate and burst (got ${rate}, ${burst})`);
    this.msPerToken = 1000 / rate;
    this.burstMs = burst * this.msPerToken;
  }

  /** Takes `cost` tokens when the bucket holds them now; false leaves it as it was. */
  tryTake(cost: number, now: number): boolean {
    const fullAt = Math.max(this.fullAt, now) + cost * this.msPerToken;
    if (fullAt - now > this.burstMs) return false;
    this.fullAt = fullAt;
    return true;
  }

  /**
   * Takes `cost` tokens, borrowing those the bucket lacks from its future: the milliseconds
   * until they will have been refilled (0 when it held them). Whoever took them waits that long.
   */
  reserve(cost: number, now: number): number {
    this.fullAt = Math.max(this.fullAt, now) + cost * this.msPerToken;
    return Math.max(0, this.fullAt - now - this.burstMs);
  }

  /** Whether at least half the bucket is there: its taker has not been pressing on the rate lately. */
  isMostlyFull(now: number): boolean {
    return this.fullAt - now <= this.burstMs / 2;
  }

  /** Whether the bucket is full: it then says nothing a fresh bucket would not. */
  isFull(now: number): boolean {
    return this.fullAt <= now;
  }
}
