import type { IPubrelPacket } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { Channel } from '../channel.ts';

/** PUBREL: release the inbound QoS 2 packet id and answer PUBCOMP [MQTT-4.3.3-11]. */
export function handlePubrel(ch: Channel, packet: IPubrelPacket): Action[] {
  const messageId = packet.messageId!;
  const known = ch.session!.inboundQos2.delete(messageId);
  if (ch.version < 5) return [{ type: 'send', packet: { cmd: 'pubcomp', messageId } }];
  const reasonCode = known ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound;
  return [{ type: 'send', packet: { cmd: 'pubcomp', messageId, reasonCode } }];
}
