/**
 * The one order in which a connection's owed work goes out: a promise chain. A packet's effects
 * (routing, subscribing) run at once, in packet order; its responses join the chain behind the
 * durability they wait for, so acks keep packet order [MQTT-4.6.0-2] while the next packets'
 * effects go ahead. A barrier (CONNECT waiting for its session, a retained replay after SUBACK)
 * also holds back the packets themselves: while one is pending, packets join the chain too and
 * are handled in turn.
 */
export class ResponseOrder {
  /** Settles when everything owed so far is done; undefined when nothing is owed. */
  private tail: Promise<void> | undefined;
  private barriers = 0;
  private readonly failed: (error: unknown) => void;

  /** `failed`: what a durability wait that rejected means for the connection (it closes). */
  constructor(failed: (error: unknown) => void) {
    this.failed = failed;
  }

  /** Nothing is owed: a response may go out at once. */
  get idle(): boolean {
    return this.tail === undefined;
  }

  /** A barrier is pending: packets must wait in the chain. */
  get holdsPackets(): boolean {
    return this.barriers > 0;
  }

  /** What is chained from now on also waits for `pending`; its rejection goes to `failed`. */
  awaitDurable(pending: Promise<unknown>): void {
    const durable = this.tail ? Promise.all([this.tail, pending]) : pending;
    this.link(durable.then(noop, this.failed));
  }

  /** Runs `step` once everything owed so far is done; a promise it returns holds back what follows. */
  then(step: () => unknown): void {
    const after = this.tail ?? Promise.resolve();
    this.link(after.then(step).then(noop, this.failed));
  }

  /** Packets wait in the chain until `pending` settles (the caller chains `pending` itself). */
  holdPackets(pending: Promise<unknown>): void {
    this.barriers++;
    const release = () => {
      this.barriers--;
    };
    pending.then(release, release);
  }

  private link(next: Promise<void>): void {
    this.tail = next;
    void next.then(() => {
      if (this.tail === next) this.tail = undefined;
    });
  }
}

function noop(): void {}
