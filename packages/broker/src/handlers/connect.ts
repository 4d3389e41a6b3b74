import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import { isValidTopicName } from '@roost/topics';
import {
  ReasonCode,
  messageFromPublish,
  toV3ConnackReturnCode,
  type ProtocolVersion,
} from '@roost/protocol';
import { NEVER_EXPIRES } from '@roost/session';
import type { Action } from '../actions.ts';
import type { AuthDecision } from '../authenticator.ts';
import type { HandlerState, Will } from '../handler-state.ts';
import type { BrokerLimits } from '../options.ts';
import type { LimitName } from '../stats.ts';
import { topicOverLimit } from '../topic-limits.ts';
import { authPacket } from './auth.ts';
import { OutboundTopicAliases } from '../topic-aliases.ts';
import { hasMalformedCharacters, malformedProperty, repeatedProperty } from '../decoded-checks.ts';

/** CONNECT: validate, negotiate limits, then ask the broker for the session (CONNACK follows in `attached`). */
export function handleConnect(ch: HandlerState, packet: IConnectPacket): Action[] {
  const version = (packet.protocolVersion ?? 4) as ProtocolVersion;
  ch.version = version;
  // Binds from the CONNECT on, a refusing CONNACK included; 0 or a repeat is refused below.
  const maximumPacketSize: unknown = version === 5 ? packet.properties?.maximumPacketSize : undefined;
  if (typeof maximumPacketSize === 'number' && maximumPacketSize > 0) ch.clientMaximumPacketSize = maximumPacketSize;
  const { limits } = ch.ctx;
  const refusal = validateConnect(packet, version, limits);
  if (refusal !== undefined) return counted(refusal.limit, refuse(ch, refusal.code, refusal.reason));
  // The node's connection limit (ROOST_MAX_CONNECTIONS) is told as a quota, v3 as server unavailable.
  if (ch.admission === 'connection-limit') return refuse(ch, ReasonCode.QuotaExceeded, 'the server is at its connection limit');
  if (ch.admission === 'connect-rate') return refuse(ch, ReasonCode.ConnectionRateExceeded, 'too many new connections from this address; try again later');
  const keepAlive = keepAliveOf(version, packet.keepalive ?? 0, limits);
  if (keepAlive === undefined) {
    // v3 cannot be told another keep alive: refused as Mosquitto refuses it (v3 return code 2).
    return counted('max_keepalive', refuse(ch, ReasonCode.ClientIdentifierNotValid, `keep alive above the maximum of ${limits.maxKeepAlive} s`));
  }
  ch.username = packet.username;

  const properties = packet.properties ?? {};
  let clientId = packet.clientId;
  if (clientId === '') {
    clientId = ch.ctx.assignClientId(); // [MQTT-3.1.3-6]
    if (version === 5) ch.assignedClientId = clientId; // [MQTT-3.2.2-16]
  }
  ch.clientId = clientId;

  const requested = version === 5 ? (properties.sessionExpiryInterval ?? 0) : packet.clean ? 0 : NEVER_EXPIRES;
  ch.requestedSessionExpiry = requested;
  ch.grantedSessionExpiry = Math.min(requested, limits.maxSessionExpiry);

  ch.keepAlive = keepAlive.keepAlive;
  ch.serverKeepAlive = keepAlive.server;
  if (version === 5) {
    ch.clientReceiveMaximum = properties.receiveMaximum ?? 0xffff;
    if (properties.topicAliasMaximum) ch.outboundAliases = new OutboundTopicAliases(properties.topicAliasMaximum);
    ch.problemInformation = properties.requestProblemInformation ?? true;
  }
  ch.will = packet.will ? willFrom(ch, packet) : undefined;
  ch.state = 'connecting';
  ch.attachRequest = { clientId, cleanStart: packet.clean ?? true, sessionExpiry: ch.grantedSessionExpiry };
  const password = typeof packet.password === 'string' ? Buffer.from(packet.password) : packet.password;
  const method = version === 5 ? properties.authenticationMethod : undefined;
  if (method !== undefined) ch.enhancedAuth = { method, since: ch.ctx.now(), reauth: undefined, connackData: undefined };
  const credentials = { clientId, username: packet.username, password, method, data: method === undefined ? undefined : properties.authenticationData };
  return counted(keepAlive.capped ? 'max_keepalive' : undefined, [{ type: 'authenticate', credentials }]);
}

/**
 * The keep alive the connection runs on; undefined when the client must be refused. v5 clients
 * are told a Server Keep Alive in CONNACK and must use it [MQTT-3.2.2-21]: ROOST_SERVER_KEEP_ALIVE
 * imposes one, ROOST_MAX_KEEPALIVE lowers a larger one (0, no keep alive at all, counts as
 * larger, as in Mosquitto's max_keepalive). A v3 client cannot be told, and the server must
 * then use its value [MQTT-3.1.2-24 v3.1.1]: one above the maximum is refused.
 */
function keepAliveOf(
  version: ProtocolVersion,
  requested: number,
  limits: BrokerLimits,
): { keepAlive: number; server: number | undefined; capped: boolean } | undefined {
  const imposed = version === 5 ? limits.serverKeepAlive : undefined;
  const keepAlive = imposed ?? requested;
  const max = limits.maxKeepAlive;
  if (max === undefined || (keepAlive !== 0 && keepAlive <= max)) return { keepAlive, server: imposed, capped: false };
  if (version < 5) return undefined;
  return { keepAlive: max, server: max, capped: true };
}

/** The actions, after a count of the limit the client reached, if it reached one. */
function counted(limit: LimitName | undefined, actions: Action[]): Action[] {
  return limit === undefined ? actions : [{ type: 'limit', limit }, ...actions];
}

/**
 * The broker's Authenticator decided: accepted, the session is resolved next (CONNACK follows
 * in `attached`); refused, CONNACK carries the reason [MQTT-3.2.2-6].
 */
export function handleAuthenticated(ch: HandlerState, decision: AuthDecision): Action[] {
  const request = ch.attachRequest;
  if (ch.state !== 'connecting' || request === undefined) return [];
  const enhanced = ch.enhancedAuth;
  switch (decision.outcome) {
    case 'accept': {
      ch.attachRequest = undefined;
      ch.permissions = decision.permissions;
      // A provider may name the client otherwise (a certificate's CN); an anonymous one keeps its claim, for the logs.
      const { username } = decision.permissions.identity;
      if (username !== undefined) ch.username = username;
      if (enhanced !== undefined) {
        enhanced.since = undefined;
        enhanced.connackData = decision.data;
      }
      return [{ type: 'attach', request }];
    }
    case 'deny':
      ch.attachRequest = undefined;
      return refuse(ch, decision.reasonCode, decision.reason);
    case 'continue':
      // [MQTT-4.12.0-6] no AUTH to a client that named no method: a provider asking for one is a server fault.
      if (enhanced === undefined) return refuse(ch, ReasonCode.ImplementationSpecificError, 'an authentication exchange the client did not ask for');
      ch.state = 'authenticating';
      // [MQTT-4.12.0-2] the server asks for more with Continue authentication.
      return [{ type: 'send', packet: authPacket(enhanced.method, ReasonCode.ContinueAuthentication, decision.data) }];
  }
}

function validateConnect(
  packet: IConnectPacket,
  version: ProtocolVersion,
  limits: BrokerLimits,
): { code: ReasonCode; reason: string; limit?: LimitName } | undefined {
  const properties = packet.properties ?? {};
  // [MQTT-3.1.2-1] / 3.1.1: protocol name and level must agree.
  const expectedName = version === 3 ? 'MQIsdp' : 'MQTT';
  if (packet.protocolId !== expectedName) {
    return { code: ReasonCode.UnsupportedProtocolVersion, reason: `protocol ${packet.protocolId} with level ${version}` };
  }
  const repeated = repeatedProperty(packet);
  if (repeated !== undefined) return { code: ReasonCode.ProtocolError, reason: `property ${repeated} included more than once` };
  const malformed = malformedProperty(packet);
  if (malformed !== undefined) return { code: ReasonCode.MalformedPacket, reason: malformed };
  // A client id with ill-formed UTF-8 (decoded as U+FFFD) or U+0000 [MQTT-1.5.4-1], [MQTT-1.5.4-2].
  if (hasMalformedCharacters(packet.clientId)) return { code: ReasonCode.ClientIdentifierNotValid, reason: 'client id is not valid UTF-8' };
  if (packet.clientId === '') {
    // [MQTT-3.1.3-8] v3.1.1: an empty id needs a clean session; v3.1 required 1 to 23 characters.
    if (version === 3 || (version === 4 && !packet.clean)) {
      return { code: ReasonCode.ClientIdentifierNotValid, reason: 'empty client id without clean session' };
    }
  }
  if (version === 5) {
    // §3.1.2.11.10: Authentication Data without a method is a Protocol Error. An unknown method is
    // the Authenticator's to refuse (0x8C), as only it knows which methods its providers offer.
    if (properties.authenticationData !== undefined && properties.authenticationMethod === undefined) {
      return { code: ReasonCode.ProtocolError, reason: 'authentication data without an authentication method' };
    }
    if (properties.receiveMaximum === 0) return { code: ReasonCode.ProtocolError, reason: 'receive maximum 0' };
    if (properties.maximumPacketSize === 0) return { code: ReasonCode.ProtocolError, reason: 'maximum packet size 0' };
  }
  if (packet.will) {
    if (!isValidTopicName(packet.will.topic)) return { code: ReasonCode.TopicNameInvalid, reason: 'will topic is not a valid topic name' };
    const limit = topicOverLimit(packet.will.topic, limits);
    if (limit !== undefined) return { code: ReasonCode.TopicNameInvalid, reason: `will topic over the ${limit.replace('_', ' ')} limit`, limit };
  }
  if (packet.password !== undefined && packet.username === undefined && version < 5) {
    // [MQTT-3.1.2-22] v3.1.1: a password needs a user name.
    return { code: ReasonCode.ProtocolError, reason: 'password without user name' };
  }
  return undefined;
}

/** CONNACK with a refusal code, then close [MQTT-3.2.2-5]; v3 gets the nearest return code. */
export function refuse(ch: HandlerState, code: ReasonCode, reason: string): Action[] {
  const connack: IConnackPacket = { cmd: 'connack', sessionPresent: false };
  if (ch.version === 5) {
    connack.reasonCode = code;
    connack.properties = { reasonString: reason };
  } else {
    connack.returnCode = toV3ConnackReturnCode(code);
  }
  ch.state = 'closed';
  const actions: Action[] = [];
  // v3 has no return code for a CONNECT that breaks the format (a protocol error, a wildcard
  // will topic): close without CONNACK [MQTT-3.1.4-1 v3.1.1].
  const malformed = code === ReasonCode.ProtocolError || code === ReasonCode.TopicNameInvalid;
  if (ch.version === 5 || !malformed) actions.push({ type: 'send', packet: connack });
  actions.push({ type: 'close', reasonCode: code, reason, notify: false });
  return actions;
}

function willFrom(ch: HandlerState, packet: IConnectPacket): Will {
  const will = packet.will!;
  const properties = will.properties ?? {};
  const message = messageFromPublish(
    {
      cmd: 'publish',
      topic: will.topic,
      payload: will.payload,
      qos: will.qos ?? 0,
      retain: will.retain ?? false,
      dup: false,
      properties: {
        payloadFormatIndicator: properties.payloadFormatIndicator,
        contentType: properties.contentType,
        responseTopic: properties.responseTopic,
        correlationData: properties.correlationData,
        userProperties: properties.userProperties,
      },
    },
    ch.clientId,
    ch.ctx.now(),
  );
  // The expiry clock of a will starts when it is published, not at CONNECT.
  return { message, delaySeconds: properties.willDelayInterval ?? 0, expirySeconds: properties.messageExpiryInterval };
}
