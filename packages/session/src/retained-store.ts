import type { Message } from '@roost/protocol';

/** Retained messages by topic (MQTT 5 3.3.1.3). Owned by the broker, implemented per mode. */
export interface RetainedStore {
  /** Stores or replaces the retained message of `message.topic` [MQTT-3.3.1-5]. */
  set(message: Message): Promise<void>;
  delete(topic: string): Promise<void>;
  /** Every retained message whose topic matches `filter`. */
  match(filter: string): Promise<Message[]>;
  count(): Promise<number>;
}
