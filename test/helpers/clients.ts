import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from 'mqtt';

/** Connects an MQTT.js client and waits for CONNACK; reconnection is off so tests see every close. */
export async function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return client;
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

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, packet });
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length >= w.count) w.resolve();
        return this.messages.length < w.count;
      });
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
}

export async function end(...clients: MqttClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.endAsync()));
}

export async function closed(client: MqttClient): Promise<void> {
  if (client.disconnected) return;
  await new Promise<void>((resolve) => client.once('close', () => resolve()));
}
