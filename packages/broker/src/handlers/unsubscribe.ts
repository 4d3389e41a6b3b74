import type { IUnsubackPacket, IUnsubscribePacket } from 'mqtt-packet';
import { isValidTopicFilter } from '@roost/topics';
import { ProtocolError, ReasonCode } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';
import { hasMalformedCharacters } from '../decoded-checks.ts';

/** UNSUBSCRIBE: remove each filter and answer UNSUBACK, even when nothing matched [MQTT-3.10.4-5]. */
export function handleUnsubscribe(ch: HandlerState, packet: IUnsubscribePacket): Action[] {
  // An UNSUBSCRIBE without a filter is a protocol violation [MQTT-3.10.3-2].
  if (packet.unsubscriptions.length === 0) throw new ProtocolError(ReasonCode.ProtocolError, 'UNSUBSCRIBE without a topic filter');
  // Ill-formed UTF-8 makes the whole packet malformed, so nothing is removed [MQTT-1.5.4-1].
  if (packet.unsubscriptions.some(hasMalformedCharacters)) {
    throw new ProtocolError(ReasonCode.MalformedPacket, 'topic filter is not valid UTF-8');
  }
  const session = ch.session!;
  const actions: Action[] = [];
  const codes: number[] = [];
  for (const filter of packet.unsubscriptions) {
    if (!isValidTopicFilter(filter)) {
      codes.push(ReasonCode.TopicFilterInvalid);
      continue;
    }
    if (session.subscriptions.delete(filter)) {
      actions.push({ type: 'unsubscribe', filter });
      codes.push(ReasonCode.Success);
    } else {
      codes.push(ReasonCode.NoSubscriptionExisted);
    }
  }
  const unsuback: IUnsubackPacket = { cmd: 'unsuback', messageId: packet.messageId!, granted: [] };
  if (ch.version === 5) unsuback.granted = codes;
  actions.push({ type: 'send', packet: unsuback });
  return actions;
}
