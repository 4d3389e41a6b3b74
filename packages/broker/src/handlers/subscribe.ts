import type { ISubackPacket, ISubscribePacket, ISubscription } from 'mqtt-packet';
import { isValidTopicFilter, parseSharedFilter } from '@roost/topics';
import { ProtocolError, ReasonCode, SubackFailureV3, type QoS, type SubscriptionOptions } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';
import { hasMalformedCharacters } from '../decoded-checks.ts';
import { topicOverLimit } from '../topic-limits.ts';

/** SUBSCRIBE: one reason code per filter, SUBACK, then the retained messages each filter asks for. */
export function handleSubscribe(ch: HandlerState, packet: ISubscribePacket): Action[] {
  const subscriptionId = packet.properties?.subscriptionIdentifier;
  // A SUBSCRIBE without a filter is a protocol violation ([MQTT-3.8.3-2] v5, [MQTT-3.8.3-3] v3.1.1);
  // the codec decodes it (even one too short to hold its packet id) to an empty list.
  if (packet.subscriptions.length === 0) throw new ProtocolError(ReasonCode.ProtocolError, 'SUBSCRIBE without a topic filter');
  if (subscriptionId === 0) throw new ProtocolError(ReasonCode.ProtocolError, 'subscription identifier 0'); // [MQTT-3.8.2-? 3.8.2.1.2]
  // Ill-formed UTF-8 makes the whole packet malformed, not one filter invalid, so it is checked
  // before any filter takes effect [MQTT-1.5.4-1].
  if (packet.subscriptions.some((s) => hasMalformedCharacters(s.topic))) {
    throw new ProtocolError(ReasonCode.MalformedPacket, 'topic filter is not valid UTF-8');
  }
  const session = ch.session!;
  const granted: number[] = [];
  const registrations: Action[] = [];
  const retained: Action[] = [];
  const denied: Action[] = [];
  const { maxSubscriptions } = ch.ctx.limits;
  for (const subscription of packet.subscriptions) {
    let code = subscriptionCode(ch, subscription);
    const existed = session.subscriptions.has(subscription.topic);
    // Checked in the order validate → limits → authorize → quota; v3.1.1 has one failure code [MQTT-3.9.3-1].
    const limit = code <= ReasonCode.GrantedQoS2 ? topicOverLimit(subscription.topic, ch.ctx.limits) : undefined;
    if (limit !== undefined) {
      // Well formed, but not accepted: MQTT 5 3.9.3's Topic Filter invalid.
      code = ch.version === 5 ? ReasonCode.TopicFilterInvalid : SubackFailureV3;
      denied.push({ type: 'limit', limit });
    }
    // A shared subscription is authorized on its inner filter.
    if (code <= ReasonCode.GrantedQoS2 && !ch.permissions!.canSubscribe(subscription.topic)) {
      code = ch.version === 5 ? ReasonCode.NotAuthorized : SubackFailureV3;
      denied.push({ type: 'denied', access: 'subscribe', topic: subscription.topic });
    }
    // Replacing a filter the session holds adds nothing, so it is never over the quota.
    if (code <= ReasonCode.GrantedQoS2 && !existed && maxSubscriptions !== undefined && session.subscriptions.size >= maxSubscriptions) {
      code = ch.version === 5 ? ReasonCode.QuotaExceeded : SubackFailureV3;
      denied.push({ type: 'limit', limit: 'max_subscriptions' });
    }
    granted.push(code);
    if (code > ReasonCode.GrantedQoS2) continue;
    const options = optionsFrom(subscription, code as QoS, subscriptionId);
    session.subscriptions.set(subscription.topic, options); // [MQTT-3.8.4-3] replaces an identical filter
    // [MQTT-3.3.1-9..11] retain handling 0: always, 1: only for a new subscription, 2: never; shared: never.
    const sendRetained =
      parseSharedFilter(subscription.topic) === undefined &&
      (options.retainHandling === 0 || (options.retainHandling === 1 && !existed));
    registrations.push({ type: 'subscribe', filter: subscription.topic, options });
    if (sendRetained) retained.push({ type: 'send-retained', filter: subscription.topic, options });
  }
  const suback: ISubackPacket = { cmd: 'suback', messageId: packet.messageId!, granted };
  // Every filter takes effect before the SUBACK, as if each had its own SUBSCRIBE [MQTT-3.8.4-5]:
  // a client that publishes after the SUBACK must get its message on any of them. Retained
  // messages follow the SUBACK [MQTT-3.8.4-1].
  return [...registrations, ...denied, { type: 'send', packet: suback }, ...retained];
}

function subscriptionCode(ch: HandlerState, subscription: ISubscription): number {
  if (!isValidTopicFilter(subscription.topic)) {
    return ch.version === 5 ? ReasonCode.TopicFilterInvalid : SubackFailureV3;
  }
  if (subscription.nl && parseSharedFilter(subscription.topic) !== undefined) {
    throw new ProtocolError(ReasonCode.ProtocolError, 'No Local on a shared subscription'); // [MQTT-3.8.3-4]
  }
  return Math.min(subscription.qos, 2); // [MQTT-3.8.4-6] granted QoS may be lower than requested
}

function optionsFrom(subscription: ISubscription, qos: QoS, subscriptionId: number | undefined): SubscriptionOptions {
  const options: SubscriptionOptions = {
    qos,
    noLocal: subscription.nl ?? false,
    retainAsPublished: subscription.rap ?? false,
    retainHandling: (subscription.rh ?? 0) as 0 | 1 | 2,
  };
  if (subscriptionId !== undefined) options.subscriptionId = subscriptionId;
  return options;
}
