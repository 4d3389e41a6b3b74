import type { IPubrelPacket } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';
import { ack } from './acks.ts';

/** PUBREL: release the inbound QoS 2 packet id and answer PUBCOMP [MQTT-4.3.3-11]. */
export function handlePubrel(ch: HandlerState, packet: IPubrelPacket): Action[] {
  const messageId = packet.messageId!;
  const known = ch.session!.inboundQos2.delete(messageId);
  const reasonCode = known ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound;
  return [{ type: 'send', packet: ack(ch.version, 'pubcomp', messageId, reasonCode) }];
}
