import type { IPubcompPacket } from 'mqtt-packet';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';

/** PUBCOMP: the outbound QoS 2 exchange is complete; free the id and refill the window. */
export function handlePubcomp(ch: HandlerState, packet: IPubcompPacket): Action[] {
  const session = ch.session!;
  const inflight = session.inflight.get(packet.messageId!);
  if (!inflight || inflight.phase !== 'pubrel') return [];
  session.inflight.delete(packet.messageId!);
  return ch.drain();
}
