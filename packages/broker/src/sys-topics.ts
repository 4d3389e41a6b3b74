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
