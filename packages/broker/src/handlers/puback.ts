import type { IPubackPacket } from 'mqtt-packet';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';

/** PUBACK: the QoS 1 delivery is done; its packet id is free again [MQTT-4.3.2-4]. */
export function handlePuback(ch: HandlerState, packet: IPubackPacket): Action[] {
  const session = ch.session!;
  const inflight = session.inflight.get(packet.messageId!);
  // An ack for an unknown id is ignored: it may answer a delivery from a previous connection.
  if (!inflight || inflight.phase !== 'publish' || inflight.delivery.qos !== 1) return [];
  session.inflight.delete(packet.messageId!);
  return ch.drain();
}
