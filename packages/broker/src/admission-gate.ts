import { Fifo } from '@roost/session';

/** A place held in an AdmissionGate; release() gives it back, once however often it is called. */
export interface AdmissionSlot {
  release(): void;
}

/** The slot of a task no gate bounds. */
export const UNGATED: AdmissionSlot = { release: () => undefined };

class Slot implements AdmissionSlot {
  private gate: AdmissionGate | undefined;

  constructor(gate: AdmissionGate) {
    this.gate = gate;
  }

  release(): void {
    const gate = this.gate;
    this.gate = undefined;
    gate?.free();
  }
}

/**
 * At most `limit` tasks at once; the rest wait in arrival order. A cluster node's CONNECTs go
 * through one: each waits on Redis round trips, and what hundreds of them allocate while
 * waiting outlives scavenges and grows the old generation (10k idle connects with 500 in
 * flight left 5-8 KB per connection resident, with 32 at once 4-5 KB). Fewer in flight wait
 * less each (Redis answers them just as fast), so the connects take no longer.
 */
export class AdmissionGate {
  private active = 0;
  private readonly waiting = new Fifo<() => void>();
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** A slot at once (no promise) when one is free; otherwise the promise of one, in arrival order. */
  enter(): AdmissionSlot | Promise<AdmissionSlot> {
    if (this.active < this.limit) {
      this.active++;
      return new Slot(this);
    }
    return new Promise((resolve) => this.waiting.push(() => resolve(new Slot(this))));
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** A slot given back: the longest waiting caller gets it. */
  free(): void {
    const next = this.waiting.shift();
    if (next) next(); // the place passes on: `active` stays
    else this.active--;
  }
}
