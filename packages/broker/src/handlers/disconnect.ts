import type { IDisconnectPacket } from 'mqtt-packet';
import { ProtocolError, ReasonCode } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { HandlerState } from '../handler-state.ts';

/** DISCONNECT from the client: normal (0x00) discards the Will [MQTT-3.14.4-3]; 0x04 keeps it. */
export function handleDisconnect(ch: HandlerState, packet: IDisconnectPacket): Action[] {
  const expiry = packet.properties?.sessionExpiryInterval;
  if (expiry !== undefined) {
    // §3.14.2.2.2: a session that was to end at disconnection cannot be extended now.
    if (ch.requestedSessionExpiry === 0 && expiry !== 0) {
      throw new ProtocolError(ReasonCode.ProtocolError, 'session expiry set on DISCONNECT after 0 at CONNECT');
    }
    // Before CONNACK (a client leaving its authentication exchange) there is no session to change yet.
    if (ch.session) ch.session.expiryInterval = Math.min(expiry, ch.ctx.limits.maxSessionExpiry);
  }
  if (packet.reasonCode !== ReasonCode.DisconnectWithWillMessage) ch.will = undefined;
  ch.state = 'closed';
  return [{ type: 'close', reasonCode: ReasonCode.NormalDisconnection, reason: 'client disconnected', notify: false, byClient: true }];
}
