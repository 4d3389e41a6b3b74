import type { IAuthPacket } from 'mqtt-packet';
import { ProtocolError, ReasonCode } from '@roost/protocol';
import type { Action } from '../actions.ts';
import type { AuthDecision } from '../authenticator.ts';
import type { HandlerState } from '../handler-state.ts';

/**
 * AUTH from the client (MQTT 5 4.12): the next step of CONNECT's exchange, or a
 * re-authentication of a connected client (AUTH 0x19, then steps as the method needs). The
 * method's own state is its provider's; the channel keeps whose turn it is.
 */
export function handleAuth(ch: HandlerState, packet: IAuthPacket): Action[] {
  const enhanced = ch.enhancedAuth;
  // [MQTT-4.12.0-7] a client whose CONNECT named no method sends no AUTH.
  if (enhanced === undefined) throw new ProtocolError(ReasonCode.ProtocolError, 'AUTH without an authentication method in CONNECT');
  const method = packet.properties?.authenticationMethod;
  // [MQTT-4.12.0-5] [MQTT-4.12.1-1] every AUTH carries the CONNECT's method.
  if (method !== enhanced.method) {
    throw new ProtocolError(ReasonCode.ProtocolError, `AUTH with authentication method ${method ?? '(none)'}, not the CONNECT's ${enhanced.method}`);
  }
  const data = packet.properties?.authenticationData;
  const code = packet.reasonCode ?? ReasonCode.Success;
  if (ch.state === 'authenticating') {
    // [MQTT-4.12.0-3] the client answers the server's AUTH with Continue authentication.
    if (code !== ReasonCode.ContinueAuthentication) throw new ProtocolError(ReasonCode.ProtocolError, `AUTH reason code ${code} in answer to Continue authentication`);
    ch.state = 'connecting';
    return [{ type: 'continue-authentication', data }];
  }
  if (enhanced.reauth === 'client' && code === ReasonCode.ContinueAuthentication) {
    enhanced.reauth = 'server';
    return [{ type: 'continue-authentication', data }];
  }
  if (enhanced.reauth === undefined && code === ReasonCode.ReAuthenticate) {
    // [MQTT-4.12.1-1] other packets keep flowing under the permissions already granted meanwhile.
    enhanced.reauth = 'server';
    enhanced.since = ch.ctx.now();
    const credentials = { clientId: ch.clientId, username: ch.username, password: undefined, method, data, reauthentication: true };
    return [{ type: 'authenticate', credentials }];
  }
  const when = enhanced.reauth === undefined ? 'outside an authentication exchange' : `while the ${enhanced.reauth === 'server' ? "server's" : "client's"} turn of a re-authentication`;
  throw new ProtocolError(ReasonCode.ProtocolError, `AUTH reason code ${code} ${when}`);
}

/** The Authenticator's decision on a re-authentication: AUTH 0x18 for more, AUTH 0x00 on success, else DISCONNECT. */
export function handleReauthenticated(ch: HandlerState, decision: AuthDecision): Action[] {
  const enhanced = ch.enhancedAuth;
  if (ch.state !== 'connected' || enhanced?.reauth !== 'server') return [];
  switch (decision.outcome) {
    case 'continue':
      enhanced.reauth = 'client';
      return [{ type: 'send', packet: authPacket(enhanced.method, ReasonCode.ContinueAuthentication, decision.data) }];
    case 'accept': {
      // The session and its rules belong to the identity CONNECT proved; another one needs a CONNECT of its own.
      if (decision.permissions.identity.username !== ch.username) return ch.fail(ReasonCode.NotAuthorized, 're-authenticated as another user');
      enhanced.reauth = undefined;
      enhanced.since = undefined;
      ch.permissions = decision.permissions;
      return [{ type: 'send', packet: authPacket(enhanced.method, ReasonCode.Success, decision.data) }];
    }
    case 'deny':
      // [MQTT-4.12.1-2] a failed re-authentication closes the connection, after DISCONNECT with a code it may carry.
      return ch.fail(disconnectCodeOf(decision.reasonCode), decision.reason);
  }
}

/** DISCONNECT has no Bad User Name or Password, Banned or Server Unavailable (§3.14.2.1). */
function disconnectCodeOf(code: ReasonCode): ReasonCode {
  if (code === ReasonCode.BadAuthenticationMethod) return code;
  if (code === ReasonCode.ServerUnavailable) return ReasonCode.UnspecifiedError;
  return ReasonCode.NotAuthorized;
}

/** An AUTH from the server: the method always [MQTT-4.12.0-5], the data when the method has some. */
export function authPacket(method: string, reasonCode: ReasonCode, data: Buffer | undefined): IAuthPacket {
  const properties: NonNullable<IAuthPacket['properties']> = { authenticationMethod: method };
  if (data !== undefined) properties.authenticationData = data;
  return { cmd: 'auth', reasonCode, properties };
}
