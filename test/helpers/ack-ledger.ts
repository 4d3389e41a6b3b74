// Counting for "no acknowledged message is lost" tests: QoS 1 publishers stream numbered
// payloads at a steady rate, the ledger records which were acknowledged (PUBACK) and which
// each subscriber received, and can wait, without polling, until every acknowledged payload
// has arrived everywhere. A message refused or still unanswered at the end may be lost.
import type { MqttClient } from 'mqtt';

export class AckLedger {
  readonly acked = new Set<string>();
  /** Subscriber -> payloads received (copies beyond the first are QoS 1's right). */
  readonly received = new Map<string, Set<string>>();
  /** Publish errors by message or reason code. */
  readonly refused = new Map<string, number>();
  unacked = 0;
  private readonly listeners = new Set<() => void>();

  constructor(subscribers: string[]) {
    for (const name of subscribers) this.received.set(name, new Set());
  }

  /** Publishes `payload` at QoS 1 and records its acknowledgement or refusal; then calls `settled`. */
  publish(client: MqttClient, topic: string, payload: string, settled?: () => void): void {
    this.unacked++;
    client.publish(topic, payload, { qos: 1 }, (error) => {
      this.unacked--;
      settled?.();
      if (!error) this.acked.add(payload);
      else {
        const code = (error as { code?: number }).code;
        const key = code === undefined ? error.message : `0x${code.toString(16)}`;
        this.refused.set(key, (this.refused.get(key) ?? 0) + 1);
      }
      this.notify();
    });
  }

  receive(subscriber: string, payload: string): void {
    this.received.get(subscriber)!.add(payload);
    this.notify();
  }

  /** Acknowledged payloads `subscriber` never received. */
  lost(subscriber: string): string[] {
    const got = this.received.get(subscriber)!;
    return [...this.acked].filter((payload) => !got.has(payload));
  }

  /** Every publish answered and every acknowledged payload at every subscriber. */
  complete(): boolean {
    return this.unacked === 0 && [...this.received.keys()].every((name) => this.lost(name).length === 0);
  }

  /** Resolves true once `condition` holds (checked at every ack and arrival), false after `ms`. */
  until(condition: () => boolean, ms: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => condition() && finish(true);
      const finish = (result: boolean) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(result);
      };
      const timer = setTimeout(() => finish(false), ms);
      this.listeners.add(check);
    });
  }

  /** One line per subscriber and the totals, for the test's output and failure messages. */
  report(tag: string): string {
    const refused = [...this.refused.values()].reduce((x, y) => x + y, 0);
    const lines = [`${tag}: acknowledged ${this.acked.size}, refused ${refused} ${JSON.stringify(Object.fromEntries(this.refused))}, unanswered ${this.unacked}`];
    for (const name of this.received.keys()) {
      const lost = this.lost(name);
      lines.push(`${tag}: ${name} received ${this.received.get(name)!.size} distinct, lost ${lost.length}${lost.length > 0 ? ` (e.g. ${lost.slice(0, 5).join(', ')})` : ''}`);
    }
    return lines.join('\n');
  }

  /** Re-checks what until() waits on, for conditions on state of the test's own (route probes). */
  notify(): void {
    if (this.listeners.size === 0) return;
    for (const listener of [...this.listeners]) listener();
  }
}

/**
 * Publishes `<name>:<seq>` on `topic` at `ratePerSecond` while `ready()` holds, at most
 * `maxUnacked` waiting on PUBACK at once. Unacknowledged messages stay in MQTT.js's store
 * across reconnects and are resent with their packet ids.
 */
export class SteadyPublisher {
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private pending = 0;
  private readonly client: MqttClient;
  private readonly name: string;
  private readonly topic: string;
  private readonly ledger: AckLedger;
  private readonly ratePerSecond: number;
  private readonly ready: () => boolean;
  private readonly maxUnacked: number;

  constructor(client: MqttClient, name: string, topic: string, ledger: AckLedger, ratePerSecond: number, ready: () => boolean, maxUnacked = 100) {
    this.client = client;
    this.name = name;
    this.topic = topic;
    this.ledger = ledger;
    this.ratePerSecond = ratePerSecond;
    this.ready = ready;
    this.maxUnacked = maxUnacked;
  }

  get published(): number {
    return this.seq;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (!this.ready() || this.pending >= this.maxUnacked) return;
      this.pending++;
      this.ledger.publish(this.client, this.topic, `${this.name}:${++this.seq}`, () => this.pending--);
    }, 1_000 / this.ratePerSecond);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
