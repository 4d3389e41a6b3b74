import type { Message } from '@roost/protocol';
import type { BrokerStats } from './stats.ts';

export interface SysSnapshot {
  version: string;
  stats: BrokerStats;
  clientsConnected: number;
  subscriptions: number;
  retained: number;
  now: number;
}

/** The `$SYS/broker/...` messages for one publication round, retained like Mosquitto's. */
export function sysMessages(s: SysSnapshot): Message[] {
  const values: Array<[string, string | number]> = [
    ['version', `roost ${s.version}`],
    ['uptime', `${Math.floor((s.now - s.stats.startedAt) / 1000)} seconds`],
    ['clients/connected', s.clientsConnected],
    ['subscriptions/count', s.subscriptions],
    ['retained messages/count', s.retained],
    ['messages/received', s.stats.messagesReceived],
    ['messages/sent', s.stats.messagesSent],
    ['messages/dropped', s.stats.messagesDropped],
    ['bytes/received', s.stats.bytesReceived],
    ['bytes/sent', s.stats.bytesSent],
  ];
  return values.map(([name, value]) => ({
    topic: `$SYS/broker/${name}`,
    payload: Buffer.from(String(value)),
    qos: 0,
    retain: true,
  }));
}

/** Publishes the $SYS snapshot every `intervalSeconds` (retained, to local subscribers); off at 0. */
export class SysPublisher {
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalSeconds: number;
  private readonly snapshot: () => Promise<SysSnapshot>;
  private readonly publish: (message: Message) => void;

  constructor(intervalSeconds: number, snapshot: () => Promise<SysSnapshot>, publish: (message: Message) => void) {
    this.intervalSeconds = intervalSeconds;
    this.snapshot = snapshot;
    this.publish = publish;
  }

  start(): void {
    if (this.timer || this.intervalSeconds <= 0) return;
    this.timer = setInterval(() => void this.tick(), this.intervalSeconds * 1000);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    for (const message of sysMessages(await this.snapshot())) this.publish(message);
  }
}
