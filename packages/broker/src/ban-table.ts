import type { AuthBanPolicy } from './options.ts';
import { RecentMap } from './recent-map.ts';

interface AddressFailures {
  /** Failures since `windowEndsAt - policy.seconds`. */
  failures: number;
  windowEndsAt: number;
  /** 0 when not banned. */
  bannedUntil: number;
}

/** Addresses remembered at most; a scan of more forgets the least recently seen first. */
const DEFAULT_CAPACITY = 65_536;
/** Each failure after the first answers this much later, up to the cap: a guesser going one by one slows down. */
const SLOWDOWN_STEP_MS = 250;
const SLOWDOWN_CAP_MS = 2_000;

/**
 * Authentication failures per address key: `after` failures within `seconds` ban the address
 * for `seconds`. A success does not wipe the count, or one known account would let a guesser
 * go on for ever. Pure: the caller passes the time.
 */
export class BanTable {
  private readonly policy: AuthBanPolicy;
  private readonly byAddress: RecentMap<string, AddressFailures>;

  constructor(policy: AuthBanPolicy, capacity = DEFAULT_CAPACITY) {
    this.policy = policy;
    this.byAddress = new RecentMap(capacity);
  }

  /** Milliseconds the address stays banned; 0 when it is not. */
  bannedFor(key: string, now: number): number {
    const entry = this.byAddress.get(key);
    if (entry === undefined || entry.bannedUntil <= now) return 0;
    return entry.bannedUntil - now;
  }

  /** Records a failure: the failures in the current window, and whether this one started a ban. */
  fail(key: string, now: number): { failures: number; banned: boolean } {
    const windowMs = this.policy.seconds * 1000;
    let entry = this.byAddress.get(key);
    if (entry === undefined || entry.windowEndsAt <= now) {
      entry = { failures: 0, windowEndsAt: now + windowMs, bannedUntil: entry?.bannedUntil ?? 0 };
      this.byAddress.set(key, entry);
    }
    entry.failures++;
    const failures = entry.failures;
    if (failures < this.policy.after || entry.bannedUntil > now) return { failures, banned: false };
    entry.bannedUntil = now + windowMs;
    // The count starts again when the ban ends, not at the ban's first refusal.
    entry.failures = 0;
    entry.windowEndsAt = entry.bannedUntil;
    return { failures, banned: true };
  }
}

/** How long the refusal of the `failures`th failure in a window waits: the first one not at all. */
export function refusalDelayMs(failures: number): number {
  return Math.min(SLOWDOWN_CAP_MS, Math.max(0, failures - 1) * SLOWDOWN_STEP_MS);
}
