// A load generator for cluster tests: numbered QoS 1 messages at a steady pace.
import type { Socket } from 'node:net';
import type { IClientOptions, MqttClient } from 'mqtt';
import { connectWithInbox, type Inbox } from './clients.ts';

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


/**
 * A persistent subscriber that moves between nodes by connecting anew with its client id (the
 * new connection takes the session over), with each connection's inbox attached before its
 * CONNACK: a resumed session's queue comes right behind it.
 */
export class MovingSubscriber {
  private readonly options: IClientOptions;
  private readonly inboxes: Inbox[] = [];
  readonly clients: MqttClient[] = [];
  /** The latest connection's inbox. */
  inbox!: Inbox;

  constructor(clientId: string) {
    this.options = { clientId, clean: false, protocolVersion: 5, connectTimeout: 30_000, properties: { sessionExpiryInterval: 600 } };
  }

  async moveTo(url: string): Promise<MqttClient> {
    const { client, inbox } = await connectWithInbox(url, this.options);
    this.inboxes.push(inbox);
    this.clients.push(client);
    this.inbox = inbox;
    return client;
  }

  /** After a QoS 1 `marker` the publisher sent last has arrived: the acknowledged payloads no connection received. */
  async lostOf(acked: ReadonlySet<string>, publisher: MqttClient, topic: string, marker = 'end'): Promise<string[]> {
    await publisher.publishAsync(topic, marker, { qos: 1 });
    await this.inbox.until((m) => m.payload.toString() === marker, 15_000);
    const received = new Set(this.inboxes.flatMap((inbox) => inbox.messages.map((m) => m.payload.toString())));
    return [...acked].filter((payload) => !received.has(payload));
  }
}
