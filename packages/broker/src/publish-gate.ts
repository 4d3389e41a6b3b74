import type { Packet } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import type { BrokerLimits } from './options.ts';
import { PublishThrottle } from './publish-throttle.ts';
import type { LimitName } from './stats.ts';

/** What the gate needs of its connection. */
export interface GatedConnection {
  readonly closed: boolean;
  /** Runs `step` in packet order, after what the connection owes; later packets wait until `released`. */
  holdInOrder(step: () => unknown, released: Promise<void>): void;
  pauseReading(until: Promise<unknown>): void;
  countLimit(limit: LimitName): void;
  disconnect(reasonCode: ReasonCode, reason: string): void;
  process(packet: Packet): void;
}

/**
 * One connection's publish rate limit at the socket. A PUBLISH over the rate waits, in packet
 * order, until its tokens exist, and the connection stops reading until every held one has
 * gone: the client is slowed down by TCP, nothing is dropped, and what waits here is at most
 * the rest of one read. A client over its rate for longer than ROOST_PUBLISH_THROTTLE_SECONDS
 * is disconnected (v5: DISCONNECT 0x96).
 */
export class PublishGate {
  private readonly throttle: PublishThrottle;
  private readonly boundMs: number;
  private readonly connection: GatedConnection;
  /** Settles once the last PUBLISH held back has been processed; undefined when none is. */
  private tail: Promise<void> | undefined;

  /** Undefined when no rate is set: the connection then pays nothing per PUBLISH. */
  static of(limits: BrokerLimits, connection: GatedConnection): PublishGate | undefined {
    const throttle = PublishThrottle.of(limits);
    return throttle && new PublishGate(throttle, (limits.publishThrottleSeconds ?? 0) * 1000, connection);
  }

  constructor(throttle: PublishThrottle, boundMs: number, connection: GatedConnection) {
    this.throttle = throttle;
    this.boundMs = boundMs;
    this.connection = connection;
  }

  /** Whether the gate took the PUBLISH (held back, or its client disconnected); false: it goes now. */
  took(packet: Packet & { cmd: 'publish' }): boolean {
    const throttled = this.throttle.take(packet.length ?? 0, Date.now());
    if (throttled === undefined) return false;
    if (this.overTooLong(throttled.overForMs)) return true;
    const { connection } = this;
    connection.countLimit(throttled.limit);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    connection.holdInOrder(() => {
      if (connection.closed) return release();
      return delayUntil(throttled.releaseAt).then(() => {
        release();
        // One read can hold more than the bound's worth: checked as each goes, too.
        if (!this.overTooLong(this.throttle.overForMs(Date.now()))) connection.process(packet);
      });
    }, released);
    const pausing = this.tail === undefined;
    this.tail = released;
    if (pausing) connection.pauseReading(this.drained());
    return true;
  }

  /** Over the rate longer than the bound: disconnected, and true. */
  private overTooLong(overForMs: number): boolean {
    const { connection } = this;
    if (connection.closed) return true;
    if (this.boundMs === 0 || overForMs < this.boundMs) return false;
    connection.countLimit('publish_rate_disconnect');
    connection.disconnect(ReasonCode.MessageRateTooHigh, 'publish rate above the limit for too long');
    return true;
  }

  /** Settles once no PUBLISH is held back any more (each one held meanwhile extends it). */
  private async drained(): Promise<void> {
    let tail: Promise<void> | undefined;
    while (tail !== this.tail) {
      tail = this.tail;
      await tail;
    }
    this.tail = undefined;
  }
}

function delayUntil(at: number): Promise<void> {
  const wait = at - Date.now();
  return wait <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, wait));
}
