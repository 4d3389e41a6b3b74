import type { IAuthPacket } from 'mqtt-packet';
import { ProtocolError, ReasonCode } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';

/**
 * AUTH: Roost offers no enhanced authentication method, so CONNECT never starts an
 * exchange and any AUTH is out of place [MQTT-4.12.0-1].
 */
export function handleAuth(_ch: HandlerState, _packet: IAuthPacket): Action[] {
  throw new ProtocolError(ReasonCode.ProtocolError, 'AUTH without an authentication method');
}
