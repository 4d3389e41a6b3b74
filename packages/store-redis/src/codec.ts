// JSON forms of what the Redis stores keep. Buffers (payload, correlation data) travel as
// base64 so they survive the round trip byte for byte. Fields are only ever added; a change
// of meaning needs a new SCHEMA_VERSION and a reader for the old one.
import type { Message, MessageProperties, QoS } from '@roost/protocol';
import type { Delivery, Inflight } from '@roost/session';
import type { Will } from '@roost/broker';

export const SCHEMA_VERSION = 1;

interface StoredProperties extends Omit<MessageProperties, 'correlationData'> {
  correlationData?: string;
}

interface StoredMessage {
  topic: string;
  payload: string;
  qos: QoS;
  retain: boolean;
  properties?: StoredProperties;
  expiresAt?: number;
  origin?: string;
  id?: string;
}

interface StoredDelivery {
  message: StoredMessage;
  qos: QoS;
  retain: boolean;
  subscriptionIds?: number[];
  shared?: { group: string; filter: string };
}

interface StoredWill {
  v: number;
  message: StoredMessage;
  delaySeconds: number;
  expirySeconds?: number;
}


interface StoredInflight {
  /** Position in send order: a hash keeps no order, resumption needs it [MQTT-4.6.0-1]. */
  order: number;
  phase: Inflight['phase'];
  delivery: StoredDelivery;
}

function toStoredMessage(message: Message): StoredMessage {
  const stored: StoredMessage = { topic: message.topic, payload: message.payload.toString('base64'), qos: message.qos, retain: message.retain };
  if (message.properties) {
    const { correlationData, ...rest } = message.properties;
    stored.properties = correlationData === undefined ? rest : { ...rest, correlationData: correlationData.toString('base64') };
  }
  if (message.expiresAt !== undefined) stored.expiresAt = message.expiresAt;
  if (message.origin !== undefined) stored.origin = message.origin;
  if (message.id !== undefined) stored.id = message.id;
  return stored;
}

function fromStoredMessage(stored: StoredMessage): Message {
  const message: Message = { topic: stored.topic, payload: Buffer.from(stored.payload, 'base64'), qos: stored.qos, retain: stored.retain };
  if (stored.properties) {
    const { correlationData, ...rest } = stored.properties;
    message.properties = correlationData === undefined ? rest : { ...rest, correlationData: Buffer.from(correlationData, 'base64') };
  }
  if (stored.expiresAt !== undefined) message.expiresAt = stored.expiresAt;
  if (stored.origin !== undefined) message.origin = stored.origin;
  if (stored.id !== undefined) message.id = stored.id;
  return message;
}

function toStoredDelivery(delivery: Delivery): StoredDelivery {
  const stored: StoredDelivery = { message: toStoredMessage(delivery.message), qos: delivery.qos, retain: delivery.retain };
  if (delivery.subscriptionIds !== undefined) stored.subscriptionIds = delivery.subscriptionIds;
  if (delivery.shared !== undefined) stored.shared = delivery.shared;
  return stored;
}

function fromStoredDelivery(stored: StoredDelivery): Delivery {
  const delivery: Delivery = { message: fromStoredMessage(stored.message), qos: stored.qos, retain: stored.retain };
  if (stored.subscriptionIds !== undefined) delivery.subscriptionIds = stored.subscriptionIds;
  if (stored.shared !== undefined) delivery.shared = stored.shared;
  return delivery;
}

export function encodeMessage(message: Message): string {
  return JSON.stringify(toStoredMessage(message));
}

export function decodeMessage(text: string): Message {
  return fromStoredMessage(JSON.parse(text) as StoredMessage);
}

export function encodeDelivery(delivery: Delivery): string {
  return JSON.stringify(toStoredDelivery(delivery));
}

export function decodeDelivery(text: string): Delivery {
  return fromStoredDelivery(JSON.parse(text) as StoredDelivery);
}

export function encodeWill(will: Will): string {
  const stored: StoredWill = { v: SCHEMA_VERSION, message: toStoredMessage(will.message), delaySeconds: will.delaySeconds };
  if (will.expirySeconds !== undefined) stored.expirySeconds = will.expirySeconds;
  return JSON.stringify(stored);
}

export function decodeWill(text: string): Will {
  const stored = JSON.parse(text) as StoredWill;
  const will: Will = { message: fromStoredMessage(stored.message), delaySeconds: stored.delaySeconds };
  if (stored.expirySeconds !== undefined) will.expirySeconds = stored.expirySeconds;
  return will;
}

export function encodeInflight(inflight: Inflight, order: number): string {
  const stored: StoredInflight = { order, phase: inflight.phase, delivery: toStoredDelivery(inflight.delivery) };
  return JSON.stringify(stored);
}

/** Decodes an in-flight hash (packet id → entry) into send order. */
export function decodeInflight(fields: Record<string, string>): [number, Inflight][] {
  return Object.entries(fields)
    .map(([id, text]) => ({ id: Number(id), stored: JSON.parse(text) as StoredInflight }))
    .sort((a, b) => a.stored.order - b.stored.order)
    .map(({ id, stored }) => [id, { phase: stored.phase, delivery: fromStoredDelivery(stored.delivery) }]);
}
