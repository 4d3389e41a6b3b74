import type { IPingreqPacket } from 'mqtt-packet';
import type { Action } from '../actions.ts';
import type { Channel } from '../channel.ts';

/** PINGREQ: answer PINGRESP [MQTT-3.12.4-1]; the connection already noted the activity. */
export function handlePingreq(_ch: Channel, _packet: IPingreqPacket): Action[] {
  return [{ type: 'send', packet: { cmd: 'pingresp' } }];
}
