import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient, type IPublishPacket } from 'mqtt';

const connacks = new WeakMap<MqttClient, IConnackPacket>();

/** Connects an MQTT.js client and waits for CONNACK; reconnection is off so tests see every close. */
export async function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return (await connectWithInbox(url, options)).client;
}

/**
 * Connects with an Inbox attached before CONNACK, so it also holds what the server sends
 * right behind it (a resumed session's messages arrive in the same read as the CONNACK).
 */
export async function connectWithInbox(url: string, options: IClientOptions = {}): Promise<{ client: MqttClient; inbox: Inbox }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  const inbox = new Inbox(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', (connack) => {
      connacks.set(client, connack);
      resolve();
    });
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return { client, inbox };
}

/** The CONNACK a client from `connect` received. */
export function connackOf(client: MqttClient): IConnackPacket {
  const connack = connacks.get(client);
  if (!connack) throw new Error('client was not connected through connect()');
  return connack;
}

let uniqueCounter = 0;

/** A name no other test uses, for client ids and topic prefixes. */
export function unique(prefix: string): string {
  uniqueCounter++;
  return `${prefix}-${process.pid}-${uniqueCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** Collects messages and lets a test await the nth one without sleeping. */
export class Inbox {
  readonly messages: Received[] = [];
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  private matchers: Array<() => boolean> = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, packet });
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length >= w.count) w.resolve();
        return this.messages.length < w.count;
      });
      this.matchers = this.matchers.filter((check) => !check());
    });
  }

  /** Resolves once `count` messages in total have arrived; rejects after `ms`. */
  async waitFor(count: number, ms = 5000): Promise<Received[]> {
    if (this.messages.length < count) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`expected ${count} messages, got ${this.messages.length}`)), ms);
        this.waiters.push({ count, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    }
    return this.messages.slice(0, count);
  }

  /**
   * Resolves with every message so far once one satisfies `predicate`; rejects after `ms`.
   * With a marker published after the messages under test, this proves what did not arrive.
   * MQTT.js emits a QoS 2 message at PUBREL, not on receipt: when QoS 2 deliveries are under
   * test, the marker must be delivered at QoS 2 too, or it can overtake them.
   */
  async until(predicate: (message: Received) => boolean, ms = 5000): Promise<Received[]> {
    const found = () => this.messages.findIndex(predicate);
    if (found() < 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching message among ${this.messages.length} within ${ms} ms`)), ms);
        const check = (): boolean => {
          if (found() < 0) return false;
          clearTimeout(timer);
          resolve();
          return true;
        };
        this.matchers.push(check);
      });
    }
    return this.messages.slice(0, found() + 1);
  }

  /** Resolves with every message so far once one arrives on `topic`. */
  untilTopic(topic: string, ms = 5000): Promise<Received[]> {
    return this.until((m) => m.topic === topic, ms);
  }

  /** [topic, payload] pairs, the shape most assertions want. */
  pairs(messages: Received[] = this.messages): Array<[string, string]> {
    return messages.map((m) => [m.topic, m.payload.toString()]);
  }
}

export async function end(...clients: MqttClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.endAsync()));
}

/** Drops the connection without DISCONNECT, as a network failure would. */
export function drop(client: MqttClient): void {
  client.stream.destroy();
}

export async function closed(client: MqttClient): Promise<void> {
  if (client.disconnected) return;
  await new Promise<void>((resolve) => client.once('close', () => resolve()));
}
