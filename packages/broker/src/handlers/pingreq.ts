import type { IPingreqPacket } from 'mqtt-packet';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';

/** PINGREQ: answer PINGRESP [MQTT-3.12.4-1]; the connection already noted the activity. */
export function handlePingreq(_ch: HandlerState, _packet: IPingreqPacket): Action[] {
  return [{ type: 'send', packet: { cmd: 'pingresp' } }];
}
