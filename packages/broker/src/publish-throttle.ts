import type { BrokerLimits } from './options.ts';
import { TokenBucket } from './token-bucket.ts';

/** Which bucket held a PUBLISH back: the `limit` label of its count. */
export type ThrottleLimit = 'publish_rate' | 'publish_bytes_rate';

export interface Throttled {
  /** When the PUBLISH may be processed (epoch ms). */
  releaseAt: number;
  limit: ThrottleLimit;
  /** How long the client has been held back without a pause of its own, ms. */
  overForMs: number;
}

/**
 * One client's publish rate and byte rate, as token buckets that lend ahead: a PUBLISH beyond
 * what the buckets hold is not dropped but told when its tokens will exist, and waits until
 * then (the connection stops reading meanwhile). Pure: the caller passes the time.
 */
export class PublishThrottle {
  private readonly messages: TokenBucket | undefined;
  private readonly bytes: TokenBucket | undefined;
  /** Since when the client has had to wait, without once letting the buckets fill halfway. */
  private overSince: number | undefined;

  /** Undefined when no rate is set: the connection then pays nothing per PUBLISH. */
  static of(limits: BrokerLimits): PublishThrottle | undefined {
    if (limits.maxPublishRate === undefined && limits.maxPublishBytesRate === undefined) return undefined;
    return new PublishThrottle(limits.maxPublishRate, limits.maxPublishBytesRate, limits.publishBurstSeconds ?? 1);
  }

  constructor(messagesPerSecond: number | undefined, bytesPerSecond: number | undefined, burstSeconds: number) {
    if (messagesPerSecond !== undefined) this.messages = new TokenBucket(messagesPerSecond, messagesPerSecond * burstSeconds);
    if (bytesPerSecond !== undefined) this.bytes = new TokenBucket(bytesPerSecond, bytesPerSecond * burstSeconds);
  }

  /** How long the client has been over its rate, ms; 0 when it is not. */
  overForMs(now: number): number {
    return this.overSince === undefined ? 0 : now - this.overSince;
  }

  /** Takes a PUBLISH of `size` bytes: undefined when it may go now, else when and why it must wait. */
  take(size: number, now: number): Throttled | undefined {
    const messageWait = this.messages?.reserve(1, now) ?? 0;
    const byteWait = this.bytes?.reserve(size, now) ?? 0;
    const wait = Math.max(messageWait, byteWait);
    if (wait === 0) {
      // A client that had to wait a moment ago, and catches up with only what its burst
      // allows, is still over its rate: it counts as calm once half its burst is back.
      if ((this.messages?.isMostlyFull(now) ?? true) && (this.bytes?.isMostlyFull(now) ?? true)) this.overSince = undefined;
      return undefined;
    }
    this.overSince ??= now;
    return { releaseAt: now + wait, limit: messageWait >= byteWait ? 'publish_rate' : 'publish_bytes_rate', overForMs: now - this.overSince };
  }
}
