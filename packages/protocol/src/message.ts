import type { IPublishPacket, UserProperties } from 'mqtt-packet';

export type QoS = 0 | 1 | 2;
export type ProtocolVersion = 3 | 4 | 5;

/** Application properties carried unchanged from publisher to subscriber (v5 3.3.2.3). */
export interface MessageProperties {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: UserProperties;
}

/**
 * An application message as the broker routes it: independent of any one connection,
 * so it can be queued, stored and sent to peers.
 */
export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: MessageProperties;
  /** Epoch ms after which the message must not be delivered; absent: never expires. */
  expiresAt?: number;
  /** Client id of the publisher, for No Local. */
  origin?: string;
  /**
   * Cluster-unique id of a QoS 2 message from a client, kept with the publisher's QoS 2
   * state: when a resend must be routed again (its first routing may have been cut short by
   * a node's death), sessions that already have it recognise it and skip it.
   */
  id?: string;
  /**
   * Set on a copy routed again because a node on its first path died before taking it: the
   * epoch ms of the first routing. Only for nodes that predate `takenOnAfter`, which deliver
   * it to sessions they took on in the second before that or since.
   */
  reroutedSince?: number;
  /**
   * Set with `reroutedSince` for a node that took the first copy: its count of sessions taken
   * on (TakeOns) when it routed that copy. It delivers this one only to sessions it took on
   * after that count (moved from the dead node); the others already had it. Exact where a
   * time is not: no clock margin, so no session gets it twice and none is skipped.
   */
  takenOnAfter?: number;
}

/** Options a client attached to one subscription (v5 3.8.3.1; v3 uses only qos). */
export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
}

export function messageFromPublish(packet: IPublishPacket, origin: string, now: number): Message {
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  const message: Message = { topic: packet.topic, payload, qos: packet.qos, retain: packet.retain, origin };
  const p = packet.properties;
  if (p) {
    const props: MessageProperties = {};
    if (p.payloadFormatIndicator !== undefined) props.payloadFormatIndicator = p.payloadFormatIndicator;
    if (p.contentType !== undefined) props.contentType = p.contentType;
    if (p.responseTopic !== undefined) props.responseTopic = p.responseTopic;
    if (p.correlationData !== undefined) props.correlationData = p.correlationData;
    if (p.userProperties !== undefined) props.userProperties = p.userProperties;
    if (Object.keys(props).length > 0) message.properties = props;
    if (p.messageExpiryInterval !== undefined) message.expiresAt = now + p.messageExpiryInterval * 1000;
  }
  return message;
}

/** Seconds left before expiry, rounded up, for the Message Expiry Interval sent on [MQTT-3.3.2-6]. */
export function remainingExpirySeconds(message: Message, now: number): number | undefined {
  if (message.expiresAt === undefined) return undefined;
  return Math.max(0, Math.ceil((message.expiresAt - now) / 1000));
}

export function isExpired(message: Message, now: number): boolean {
  return message.expiresAt !== undefined && message.expiresAt <= now;
}
