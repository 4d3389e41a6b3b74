import type { IUnsubackPacket, IUnsubscribePacket } from 'mqtt-packet';
import { isValidTopicFilter } from '@roost/topics';
import { ReasonCode } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { Channel } from '../channel.ts';

/** UNSUBSCRIBE: remove each filter and answer UNSUBACK, even when nothing matched [MQTT-3.10.4-5]. */
export function handleUnsubscribe(ch: Channel, packet: IUnsubscribePacket): Action[] {
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
