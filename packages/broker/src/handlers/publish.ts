import type { IPublishPacket } from 'mqtt-packet';
import { isUtf8 } from 'node:buffer';
import { isValidTopicName } from '@roost/topics';
import { ProtocolError, ReasonCode, messageFromPublish } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';
import { topicOverLimit, type TopicLimit } from '../topic-limits.ts';
import { ack } from './acks.ts';

/**
 * PUBLISH from the client, as a pipeline of small steps:
 * resolve alias → validate → topic limits → authorize → check the inbound window → route → acknowledge.
 */
export function handlePublish(ch: HandlerState, packet: IPublishPacket): Action[] {
  const topic = resolveTopicAlias(ch, packet);
  if (!isValidTopicName(topic)) {
    // [MQTT-3.3.2-2] no wildcards in a topic name; [MQTT-4.7.3-1] at least one character.
    throw new ProtocolError(ReasonCode.TopicNameInvalid, `invalid topic name ${JSON.stringify(topic)}`);
  }
  if (packet.qos > 0 && !packet.messageId) {
    throw new ProtocolError(ReasonCode.ProtocolError, 'QoS > 0 PUBLISH without a packet identifier'); // [MQTT-2.2.1-3]
  }
  if (packet.properties?.subscriptionIdentifier !== undefined) {
    throw new ProtocolError(ReasonCode.ProtocolError, 'PUBLISH from a client with a subscription identifier'); // [MQTT-3.3.4-6]
  }
  const limit = topicOverLimit(topic, ch.ctx.limits);
  if (limit !== undefined) return refuseTopic(ch, packet, limit);
  if (!ch.permissions!.canPublish(topic)) return refusePublish(ch, packet, topic);
  const session = ch.session!;
  // A resend of a QoS 2 message already received (not yet released) is routed again under the
  // id it got on first receipt: its first routing may have been cut short by a node's death,
  // and sessions that have it skip the copy [MQTT-4.3.3-10].
  const resend = packet.qos === 2 && session.inboundQos2.has(packet.messageId!);
  if (packet.qos === 2 && !resend && session.inboundQos2.size >= ch.ctx.limits.receiveMaximum) {
    throw new ProtocolError(ReasonCode.ReceiveMaximumExceeded, 'more unreleased QoS 2 messages than Receive Maximum'); // [MQTT-3.3.4-7]
  }
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  if (ch.version === 5 && packet.properties?.payloadFormatIndicator && !isUtf8(payload)) {
    return refusePayload(ch, packet);
  }

  const message = messageFromPublish({ ...packet, topic, payload }, ch.clientId, ch.ctx.now());
  // The broker records a QoS 2 packet id, with the message's id, before routing it (see Broker.publishFromClient).
  const actions: Action[] = [{ type: 'publish', message, ...(packet.qos === 2 ? { qos2PacketId: packet.messageId! } : {}) }];
  if (packet.qos === 1) {
    actions.push({ type: 'send', packet: ack(ch.version, 'puback', packet.messageId!) });
  } else if (packet.qos === 2) {
    actions.push({ type: 'send', packet: ack(ch.version, 'pubrec', packet.messageId!) });
  }
  return actions;
}

/** [MQTT-3.3.2-8..12]: an alias carries a topic once; later PUBLISHes may send only the alias. */
function resolveTopicAlias(ch: HandlerState, packet: IPublishPacket): string {
  const alias = packet.properties?.topicAlias;
  if (alias === undefined) {
    // MQTT 5 3.3.2.1: an empty topic name without a topic alias is a Protocol Error.
    if (packet.topic === '') throw new ProtocolError(ReasonCode.ProtocolError, 'empty topic name without a topic alias');
    return packet.topic;
  }
  if (ch.version < 5 || alias === 0 || alias > ch.ctx.limits.topicAliasMaximum) {
    throw new ProtocolError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} outside 1..${ch.ctx.limits.topicAliasMaximum}`);
  }
  if (packet.topic !== '') {
    (ch.inboundAliases ??= new Map()).set(alias, packet.topic);
    return packet.topic;
  }
  const known = ch.inboundAliases?.get(alias);
  if (known === undefined) throw new ProtocolError(ReasonCode.ProtocolError, `topic alias ${alias} was never set`);
  return known;
}

/** [MQTT-3.3.2-4] a payload marked UTF-8 that is not: refused by the ack, or by DISCONNECT at QoS 0. */
function refusePayload(ch: HandlerState, packet: IPublishPacket): Action[] {
  if (packet.qos === 0) throw new ProtocolError(ReasonCode.PayloadFormatInvalid, 'payload is not valid UTF-8');
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec';
  return [{ type: 'send', packet: ack(ch.version, cmd, packet.messageId!, ReasonCode.PayloadFormatInvalid) }];
}

/**
 * A topic name longer or deeper than the limits: well formed, but not accepted, which v5 says
 * with 0x90 Topic Name invalid on the ack (MQTT 5 3.4.2.1, 3.5.2.1), or on a DISCONNECT at
 * QoS 0, which has no ack. v3 has no such code: the connection closes, so that the client
 * learns that its message went nowhere.
 */
function refuseTopic(ch: HandlerState, packet: IPublishPacket, limit: TopicLimit): Action[] {
  const counted: Action = { type: 'limit', limit };
  const reason = `topic name over the ${limit === 'topic_length' ? 'length' : 'levels'} limit`;
  if (ch.version < 5 || packet.qos === 0) return [counted, ...ch.fail(ReasonCode.TopicNameInvalid, reason)];
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec';
  return [counted, { type: 'send', packet: ack(ch.version, cmd, packet.messageId!, ReasonCode.TopicNameInvalid) }];
}

/**
 * A topic the client may not publish to: v5 is told by the ack's reason code; v3 has none, so
 * the message is acknowledged and dropped, as Mosquitto does. QoS 0 is dropped either way.
 * With ROOST_ACL_DENY_ACTION=disconnect the connection closes instead (v5: DISCONNECT 0x87).
 */
function refusePublish(ch: HandlerState, packet: IPublishPacket, topic: string): Action[] {
  const actions: Action[] = [{ type: 'denied', access: 'publish', topic }];
  if (ch.ctx.limits.aclDenyAction === 'disconnect') return [...actions, ...ch.fail(ReasonCode.NotAuthorized, 'not authorized to publish to this topic')];
  if (packet.qos === 0) return actions;
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec';
  // A v5 PUBREC of 0x80 or more ends the QoS 2 exchange; a v3 one is followed by PUBREL,
  // answered as for an unknown packet id.
  actions.push({ type: 'send', packet: ack(ch.version, cmd, packet.messageId!, ReasonCode.NotAuthorized) });
  return actions;
}
