import { addressKey } from './address-key.ts';
import { RecentMap } from './recent-map.ts';
import { TokenBucket } from './token-bucket.ts';

/** Addresses remembered at most: a scan of more forgets the least recently seen (a fresh bucket is a full one). */
const DEFAULT_CAPACITY = 32_768;

/**
 * New connections per second per address key (an IPv6 address counts as its /64), as a token
 * bucket each holding one second's worth: over it, a connection is refused.
 */
export class ConnectRateLimiter {
  private readonly rate: number;
  private readonly buckets: RecentMap<string, TokenBucket>;

  constructor(perSecond: number, capacity = DEFAULT_CAPACITY) {
    this.rate = perSecond;
    this.buckets = new RecentMap(capacity);
  }

  /** Takes a token for a new connection from `address`; false when it has none left. */
  admit(address: string, now: number): boolean {
    const key = addressKey(address);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.rate, this.rate);
      this.buckets.set(key, bucket);
    }
    return bucket.tryTake(1, now);
  }
}
