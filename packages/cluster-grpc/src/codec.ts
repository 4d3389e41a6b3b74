// Message ↔ cluster.v1 Message. Everything the broker routes survives the trip: payload and
// correlation data byte for byte, user properties in order with repeated names, absence of
// optional fields (no expiry stays no expiry).
import type { Message, MessageProperties, QoS } from '@roost/protocol';
import type { WireMessage, WireProperties, WireUserProperty } from './proto.ts';

type UserProperties = NonNullable<MessageProperties['userProperties']>;

/** A peer sent something no Roost node encodes; the batch or call carrying it is refused. */
export class WireFormatError extends Error {
  override readonly name = 'WireFormatError';
}

export function encodeMessage(message: Message): WireMessage {
  const wire: WireMessage = { topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain };
  if (message.properties) wire.properties = encodeProperties(message.properties);
  if (message.expiresAt !== undefined) wire.expiresAt = message.expiresAt;
  if (message.origin !== undefined) wire.origin = message.origin;
  if (message.id !== undefined) wire.id = message.id;
  if (message.reroutedSince !== undefined) wire.reroutedSince = message.reroutedSince;
  if (message.takenOnAfter !== undefined) wire.takenOnAfter = message.takenOnAfter;
  return wire;
}

export function decodeMessage(wire: WireMessage): Message {
  if (wire.qos !== 0 && wire.qos !== 1 && wire.qos !== 2) throw new WireFormatError(`qos ${wire.qos} on ${wire.topic}`);
  const message: Message = { topic: wire.topic, payload: wire.payload, qos: wire.qos as QoS, retain: wire.retain };
  if (wire.properties) message.properties = decodeProperties(wire.properties);
  if (wire.expiresAt !== undefined) message.expiresAt = wire.expiresAt;
  if (wire.origin !== undefined) message.origin = wire.origin;
  if (wire.id !== undefined) message.id = wire.id;
  if (wire.reroutedSince !== undefined) message.reroutedSince = wire.reroutedSince;
  if (wire.takenOnAfter !== undefined) message.takenOnAfter = wire.takenOnAfter;
  return message;
}

/**
 * Bytes a message occupies in a batch, near enough to cap batches well under the receiver's
 * message size limit without serialising twice.
 */
export function wireSize(message: WireMessage): number {
  let size = 16 + Buffer.byteLength(message.topic) + message.payload.length + (message.origin?.length ?? 0) + (message.id?.length ?? 0);
  const p = message.properties;
  if (p) {
    size += (p.contentType?.length ?? 0) + (p.responseTopic?.length ?? 0) + (p.correlationData?.length ?? 0);
    for (const { key, value } of p.userProperties) size += 4 + key.length + value.length;
  }
  return size;
}

function encodeProperties(properties: MessageProperties): WireProperties {
  const wire: WireProperties = { userProperties: encodeUserProperties(properties.userProperties ?? {}) };
  if (properties.payloadFormatIndicator !== undefined) wire.payloadFormatIndicator = properties.payloadFormatIndicator;
  if (properties.contentType !== undefined) wire.contentType = properties.contentType;
  if (properties.responseTopic !== undefined) wire.responseTopic = properties.responseTopic;
  if (properties.correlationData !== undefined) wire.correlationData = properties.correlationData;
  return wire;
}

function decodeProperties(wire: WireProperties): MessageProperties {
  const properties: MessageProperties = {};
  if (wire.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = wire.payloadFormatIndicator;
  if (wire.contentType !== undefined) properties.contentType = wire.contentType;
  if (wire.responseTopic !== undefined) properties.responseTopic = wire.responseTopic;
  if (wire.correlationData !== undefined) properties.correlationData = wire.correlationData;
  if (wire.userProperties.length > 0) properties.userProperties = decodeUserProperties(wire.userProperties);
  return properties;
}

/** The record form keeps each name's values in order and names in first-seen order; the pairs follow it. */
function encodeUserProperties(userProperties: UserProperties): WireUserProperty[] {
  return Object.entries(userProperties).flatMap(([key, value]) =>
    (Array.isArray(value) ? value : [value]).map((item) => ({ key, value: item })));
}

/**
 * A repeated name becomes a string[], as mqtt-packet decodes it from a PUBLISH. Built through a
 * Map so a peer's `__proto__` stays a plain property name.
 */
function decodeUserProperties(pairs: WireUserProperty[]): UserProperties {
  const byName = new Map<string, string | string[]>();
  for (const { key, value } of pairs) {
    const seen = byName.get(key);
    if (seen === undefined) byName.set(key, value);
    else if (Array.isArray(seen)) seen.push(value);
    else byName.set(key, [seen, value]);
  }
  return Object.fromEntries(byName);
}
