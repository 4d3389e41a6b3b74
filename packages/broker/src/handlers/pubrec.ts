import type { IPubrecPacket } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';
import { ack } from './acks.ts';

/** PUBREC: first half of the outbound QoS 2 handshake; answer PUBREL [MQTT-4.3.3-4]. */
export function handlePubrec(ch: HandlerState, packet: IPubrecPacket): Action[] {
  const session = ch.session!;
  const messageId = packet.messageId!;
  const inflight = session.inflight.get(messageId);
  if (!inflight || inflight.delivery.qos !== 2) {
    return [{ type: 'send', packet: ack(ch.version, 'pubrel', messageId, ReasonCode.PacketIdentifierNotFound) }];
  }
  if (packet.reasonCode !== undefined && packet.reasonCode >= 0x80) {
    // The receiver refused the message: the exchange ends here (MQTT 5 4.3.3).
    session.inflight.delete(messageId);
    return ch.drain();
  }
  inflight.phase = 'pubrel';
  // The PUBREL waits until the new phase is stored. The client hands the message on when it
  // gets the PUBREL; were this node to die before storing the phase, the session resumed
  // elsewhere would send the PUBLISH again, and the client would take it as a new message.
  return [{ type: 'persist' }, { type: 'send', packet: ack(ch.version, 'pubrel', messageId) }];
}
