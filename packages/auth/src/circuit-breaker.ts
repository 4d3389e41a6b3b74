/**
 * Stops asking a service that keeps failing: after `failures` failures in a row it opens for
 * `openMs`, during which callers are refused at once instead of each waiting out a timeout;
 * then one trial call is let through (half-open), and its outcome closes or reopens it.
 */
export class CircuitBreaker {
  private readonly failures: number;
  private readonly openMs: number;
  private readonly now: () => number;
  private failed = 0;
  private openUntil = 0;
  private trial = false;

  constructor(options: { failures: number; openMs: number; now?: () => number }) {
    this.failures = options.failures;
    this.openMs = options.openMs;
    this.now = options.now ?? Date.now;
  }

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.failed < this.failures) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  /** Whether a call may go out now; in half-open, only one at a time does. */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trial) return false;
    this.trial = true;
    return true;
  }

  recordSuccess(): void {
    this.failed = 0;
    this.trial = false;
  }

  recordFailure(): void {
    this.trial = false;
    this.failed++;
    if (this.failed >= this.failures) this.openUntil = this.now() + this.openMs;
  }
}
