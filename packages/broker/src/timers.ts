// setTimeout overflows past 2^31-1 ms (about 24.8 days); session expiry can be 136 years.
const MAX_DELAY = 0x7fffffff;

/** Keyed one-shot timers (will delays, session expiry), with delays of any length. */
export class KeyedTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  get size(): number {
    return this.timers.size;
  }

  set(key: string, delayMs: number, fire: () => void): void {
    this.cancel(key);
    const step = Math.min(delayMs, MAX_DELAY);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      if (delayMs > step) this.set(key, delayMs - step, fire);
      else fire();
    }, step);
    timer.unref();
    this.timers.set(key, timer);
  }

  has(key: string): boolean {
    return this.timers.has(key);
  }

  cancel(key: string): boolean {
    const timer = this.timers.get(key);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(key);
    return true;
  }

  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
