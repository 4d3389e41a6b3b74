// A load generator for cluster tests: numbered QoS 1 messages at a steady pace.
import type { Socket } from 'node:net';
import type { MqttClient } from 'mqtt';

/**
 * Publishes `count` numbered QoS 1 messages, one each millisecond or so (at most `inFlight`
 * unacknowledged), so that they reach the publisher's node in many separate reads: each tick's
 * forwards make a batch of their own, and with the holder slow to acknowledge, batches queue
 * behind the link's window. Calls `progress` at each PUBACK.
 */
export function paced(publisher: MqttClient, topic: string, count: number, inFlight: number, acked: Set<string>, progress: () => void): Promise<void> {
  (publisher.stream as Socket).setNoDelay?.(true);
  let next = 0;
  let outstanding = 0;
  return new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (next >= count || outstanding >= inFlight) return;
      const payload = String(next++);
      outstanding++;
      publisher.publishAsync(topic, payload, { qos: 1 }).then(() => {
        outstanding--;
        acked.add(payload);
        progress();
        if (acked.size === count) {
          clearInterval(timer);
          resolve();
        }
      }, (error: unknown) => {
        clearInterval(timer);
        reject(error);
      });
    }, 1);
  });
}

