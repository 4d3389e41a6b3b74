import type { IConnackPacket, IDisconnectPacket, IPublishPacket, Packet } from 'mqtt-packet';
import { ProtocolError, ReasonCode, isExpired, remainingExpirySeconds, type ProtocolVersion } from '@roost/protocol';
import type { Delivery, Session } from '@roost/session';
import type { Action, AttachRequest } from './actions.ts';
import type { AuthDecision } from './authenticator.ts';
import type { ClientPermissions } from './authorizer.ts';
import type { Admission, ChannelContext, ChannelState, EnhancedAuth, HandlerState, Will } from './handler-state.ts';
import type { OutboundTopicAliases } from './topic-aliases.ts';
import type { DropReason } from './stats.ts';
import { encodePublish } from './publish-encoder.ts';
import { handleAuthenticated, handleConnect, refuse } from './handlers/connect.ts';
import { handlePublish } from './handlers/publish.ts';
import { handlePuback } from './handlers/puback.ts';
import { handlePubrec } from './handlers/pubrec.ts';
import { handlePubrel } from './handlers/pubrel.ts';
import { handlePubcomp } from './handlers/pubcomp.ts';
import { handleSubscribe } from './handlers/subscribe.ts';
import { handleUnsubscribe } from './handlers/unsubscribe.ts';
import { handlePingreq } from './handlers/pingreq.ts';
import { handleDisconnect } from './handlers/disconnect.ts';
import { handleAuth, handleReauthenticated } from './handlers/auth.ts';
import { ack } from './handlers/acks.ts';
import { lacksPacketId, malformedProperty, repeatedProperty } from './decoded-checks.ts';

export type { Admission, ChannelContext, ChannelState, Will } from './handler-state.ts';

/** Where a channel reports a delivery it dropped. */
export interface DropSink {
  dropped(delivery: Delivery, reason: DropReason): void;
}

/**
 * The protocol state machine of one connection: packets in, actions out. It holds no
 * socket and does no I/O, so it is tested by feeding packets and reading actions.
 */
export class Channel implements HandlerState {
  readonly ctx: ChannelContext;
  state: ChannelState = 'awaiting-connect';
  version: ProtocolVersion = 4;
  clientId = '';
  username: string | undefined;
  readonly admission: Admission;
  /** Set when the broker assigned the id, to return it in CONNACK [MQTT-3.2.2-16]. */
  assignedClientId: string | undefined;
  permissions: ClientPermissions | undefined;
  enhancedAuth: EnhancedAuth | undefined;
  attachRequest: AttachRequest | undefined;
  session: Session | undefined;
  will: Will | undefined;
  /** Effective keep alive in seconds; 0 disables the check. */
  keepAlive = 0;
  serverKeepAlive: number | undefined;
  /** The Session Expiry Interval the CONNECT asked for, before capping (§3.14.2.2.2). */
  requestedSessionExpiry = 0;
  /** The capped value, returned in CONNACK when it differs from the request. */
  grantedSessionExpiry = 0;
  /** v5 limits the client announced in CONNECT. */
  clientReceiveMaximum = 0xffff;
  clientMaximumPacketSize: number | undefined;
  outboundAliases: OutboundTopicAliases | undefined;
  /** Client→server topic aliases; made on the first one (most clients never set any). */
  inboundAliases: Map<number, string> | undefined;
  /** Packet ids of a resumed session's unacknowledged PUBLISHes not yet resent on this connection. */
  private heldBack: Set<number> | undefined;
  /** v5 Request Problem Information: false means no reason strings outside CONNACK/DISCONNECT. */
  problemInformation = true;

  /** Anything but `admitted` (the node's connection limit, the address's connect rate) refuses CONNECT. */
  constructor(ctx: ChannelContext, admission: Admission = 'admitted') {
    this.ctx = ctx;
    this.admission = admission;
  }

  /** Handles one decoded packet; a protocol violation becomes a close action, never a throw. */
  handle(packet: Packet): Action[] {
    try {
      return this.dispatch(packet);
    } catch (error) {
      if (error instanceof ProtocolError) return this.fail(error.reasonCode, error.message);
      throw error;
    }
  }

  private dispatch(packet: Packet): Action[] {
    if (this.state === 'awaiting-connect') {
      // [MQTT-3.1.0-1] the first packet from the client must be CONNECT.
      if (packet.cmd !== 'connect') return this.fail(ReasonCode.ProtocolError, `first packet was ${packet.cmd}, not connect`);
      return handleConnect(this, packet);
    }
    // [MQTT-3.1.2-30] until CONNACK, a client authenticating by a method sends only AUTH or DISCONNECT.
    if (this.state === 'authenticating' && packet.cmd !== 'auth' && packet.cmd !== 'disconnect') {
      throw new ProtocolError(ReasonCode.ProtocolError, `${packet.cmd} before the authentication exchange ended`);
    }
    if (lacksPacketId(packet)) throw new ProtocolError(ReasonCode.MalformedPacket, `${packet.cmd} too short for its packet identifier`);
    const repeated = repeatedProperty(packet);
    if (repeated !== undefined) throw new ProtocolError(ReasonCode.ProtocolError, `property ${repeated} included more than once`);
    const malformed = malformedProperty(packet);
    if (malformed !== undefined) throw new ProtocolError(ReasonCode.MalformedPacket, malformed);
    switch (packet.cmd) {
      case 'connect':
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
        throw new ProtocolError(ReasonCode.ProtocolError, 'second CONNECT on one connection');
      case 'publish':
        return handlePublish(this, packet);
      case 'puback':
        return handlePuback(this, packet);
      case 'pubrec':
        return handlePubrec(this, packet);
      case 'pubrel':
        return handlePubrel(this, packet);
      case 'pubcomp':
        return handlePubcomp(this, packet);
      case 'subscribe':
        return handleSubscribe(this, packet);
      case 'unsubscribe':
        return handleUnsubscribe(this, packet);
      case 'pingreq':
        return handlePingreq(this, packet);
      case 'disconnect':
        return handleDisconnect(this, packet);
      case 'auth':
        return handleAuth(this, packet);
      case 'connack':
      case 'suback':
      case 'unsuback':
      case 'pingresp':
        // Server-to-client packets sent by a client are a protocol error.
        throw new ProtocolError(ReasonCode.ProtocolError, `client sent ${packet.cmd}`);
      default:
        return assertNever(packet);
    }
  }

  /** Close for a protocol violation: DISCONNECT with the reason on v5 once connected. */
  fail(reasonCode: ReasonCode, reason: string): Action[] {
    // Before CONNACK, in the middle of an exchange, a v5 client is told by a refusing CONNACK [MQTT-4.12.0-4].
    if (this.state === 'authenticating') return refuse(this, reasonCode, reason);
    const notify = this.state === 'connected' && this.version === 5;
    this.state = 'closed';
    return [{ type: 'close', reasonCode, reason, notify }];
  }

  /** The broker's Authenticator answered the CONNECT (or a re-authentication, or a step of either's exchange). */
  authenticated(decision: AuthDecision): Action[] {
    return this.state === 'connected' ? handleReauthenticated(this, decision) : handleAuthenticated(this, decision);
  }

  /** An enhanced authentication (CONNECT's or a re-authentication) began more than `ms` before `now`. */
  authenticationOverdue(now: number, ms: number): boolean {
    const since = this.enhancedAuth?.since;
    return since !== undefined && this.state !== 'closed' && now - since > ms;
  }

  /** The broker resolved the session for the CONNECT: send CONNACK, then resume. */
  attached(session: Session, sessionPresent: boolean): Action[] {
    if (this.state !== 'connecting') return [];
    this.session = session;
    this.state = 'connected';
    const actions: Action[] = [{ type: 'send', packet: this.connack(sessionPresent) }];
    if (sessionPresent) this.resume(actions);
    this.drain(actions);
    return actions;
  }

  private connack(sessionPresent: boolean): IConnackPacket {
    const packet: IConnackPacket = { cmd: 'connack', sessionPresent };
    if (this.version < 5) {
      packet.returnCode = 0;
      return packet;
    }
    const { limits } = this.ctx;
    packet.reasonCode = ReasonCode.Success;
    const properties: NonNullable<IConnackPacket['properties']> = {
      receiveMaximum: limits.receiveMaximum,
      maximumPacketSize: limits.maxPacketSize,
      topicAliasMaximum: limits.topicAliasMaximum,
    };
    if (this.assignedClientId !== undefined) properties.assignedClientIdentifier = this.assignedClientId;
    if (this.grantedSessionExpiry !== this.requestedSessionExpiry) {
      properties.sessionExpiryInterval = this.grantedSessionExpiry;
    }
    if (this.serverKeepAlive !== undefined) properties.serverKeepAlive = this.serverKeepAlive;
    const enhanced = this.enhancedAuth;
    if (enhanced !== undefined) {
      // [MQTT-4.12.0-5] a successful CONNACK repeats the method; its data ends the exchange (SCRAM's server-final).
      properties.authenticationMethod = enhanced.method;
      if (enhanced.connackData !== undefined) properties.authenticationData = enhanced.connackData;
      enhanced.connackData = undefined;
    }
    packet.properties = properties;
    return packet;
  }

  /**
   * [MQTT-4.4.0-1] resend unacknowledged PUBLISH (DUP set) and PUBREL in original order.
   * The window is this connection's [MQTT-3.3.4-9]: PUBLISHes beyond it wait in `heldBack`.
   */
  private resume(actions: Action[]): void {
    const session = this.session!;
    let sent = 0;
    for (const [messageId, inflight] of session.inflight) {
      if (inflight.phase === 'pubrel') {
        actions.push({ type: 'send', packet: ack(this.version, 'pubrel', messageId) });
        sent++;
      } else if (sent < this.window) {
        this.resend(messageId, inflight.delivery, actions);
        sent++;
      } else {
        (this.heldBack ??= new Set()).add(messageId);
      }
    }
  }

  private resend(messageId: number, delivery: Delivery, actions: Action[]): void {
    const action = this.publishAction(delivery, messageId, true);
    if (action) actions.push(action);
    else this.tooLarge(messageId, delivery);
  }

  /** Resends held-back PUBLISHes, in order, as acknowledgements free the window. */
  private resendHeldBack(actions: Action[]): void {
    const session = this.session!;
    if (this.heldBack === undefined) return;
    for (const messageId of this.heldBack) {
      // The client may acknowledge an id it got on its previous connection before we resend it.
      if (session.inflight.get(messageId)?.phase !== 'publish') this.heldBack.delete(messageId);
    }
    for (const messageId of this.heldBack) {
      if (session.inflight.size - this.heldBack.size >= this.window) return;
      this.heldBack.delete(messageId);
      this.resend(messageId, session.inflight.get(messageId)!.delivery, actions);
    }
  }

  /** The outbound QoS 1/2 window: our own cap, narrowed by the client's Receive Maximum. */
  get window(): number {
    return Math.min(this.ctx.limits.maxInflight, this.clientReceiveMaximum);
  }

  /** Sends one delivery now, or queues it behind the window. */
  deliver(delivery: Delivery): Action[] {
    if (this.state !== 'connected') return [];
    if (isExpired(delivery.message, this.ctx.now())) {
      this.dropSink?.dropped(delivery, 'expired'); // [MQTT-3.3.2-5]
      return [];
    }
    // A filter the client may subscribe to can match topics it may not read (`a/#` past `a/secret`).
    const { topic } = delivery.message;
    if (!this.permissions!.canReceive(topic)) return [{ type: 'denied', access: 'receive', topic }];
    const actions: Action[] = [];
    const session = this.session!;
    if (delivery.qos === 0) {
      this.sendNow(delivery, actions);
    } else if (session.inflight.size >= this.window || session.queue.length > 0) {
      const { limits } = this.ctx;
      const dropped = session.enqueue(delivery, limits.maxQueuedMessages, limits.queueOverflow);
      if (dropped) this.dropSink?.dropped(dropped, 'queue_full');
    } else {
      this.sendNow(delivery, actions);
    }
    return actions;
  }

  /** Told what went unsent (overflow, expiry, too large), to count and log it: the connection, not a closure each. */
  dropSink: DropSink | undefined;

  /** Moves queued deliveries into the window as acknowledgements free it. */
  drain(actions: Action[] = []): Action[] {
    const session = this.session;
    if (!session || this.state !== 'connected') return actions;
    this.resendHeldBack(actions);
    const now = this.ctx.now();
    let persisted = false;
    while (session.inflight.size < this.window && session.queue.length > 0) {
      const next = session.queue.shift()!;
      if (isExpired(next.message, now)) {
        this.dropSink?.dropped(next, 'expired');
        continue;
      }
      // Queued while the client was away, perhaps under other rules: checked as it goes out.
      if (!this.permissions!.canReceive(next.message.topic)) {
        actions.push({ type: 'denied', access: 'receive', topic: next.message.topic });
        continue;
      }
      if (next.qos === 2 && !persisted) {
        // The PUBLISHes with new packet ids wait until the session naming them is stored (as
        // live ones do, DurableSends): were this node to die first, the session resumed
        // elsewhere would still queue the message and send it again under another id.
        actions.push({ type: 'persist' });
        persisted = true;
      }
      this.sendNow(next, actions);
    }
    return actions;
  }

  private sendNow(delivery: Delivery, actions: Action[]): void {
    const session = this.session!;
    let messageId: number | undefined;
    if (delivery.qos > 0) {
      messageId = session.allocatePacketId();
      if (messageId === undefined) {
        session.queue.push(delivery);
        return;
      }
      session.inflight.set(messageId, { delivery, phase: 'publish' });
    }
    const action = this.publishAction(delivery, messageId, false);
    if (action) actions.push(action);
    else this.tooLarge(messageId, delivery);
  }

  /** [MQTT-3.1.2-25] a PUBLISH above the client's Maximum Packet Size is dropped as if sent. */
  private tooLarge(messageId: number | undefined, delivery: Delivery): void {
    if (messageId !== undefined) this.session!.inflight.delete(messageId);
    this.dropSink?.dropped(delivery, 'too_large');
  }

  /** Builds the PUBLISH for this client, or undefined when it exceeds the client's maximum size. */
  private publishAction(delivery: Delivery, messageId: number | undefined, dup: boolean): Action | undefined {
    const { message } = delivery;
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic: message.topic,
      payload: message.payload,
      qos: delivery.qos,
      retain: delivery.retain,
      dup,
    };
    if (messageId !== undefined) packet.messageId = messageId;
    if (this.version === 5) this.addPublishProperties(packet, delivery);
    // Retained copies are not cached: a stored retained message would keep its encodings.
    const perSubscriber =
      dup || delivery.retain || packet.properties?.topicAlias !== undefined || packet.properties?.subscriptionIdentifier !== undefined || message.expiresAt !== undefined;
    const data = encodePublish(packet, message, this.version, !perSubscriber);
    if (this.clientMaximumPacketSize !== undefined && data.length > this.clientMaximumPacketSize) {
      if (packet.properties?.topicAlias !== undefined && packet.topic !== '') this.outboundAliases?.forget(message.topic);
      return undefined;
    }
    return { type: 'send', packet, data };
  }

  private addPublishProperties(packet: IPublishPacket, delivery: Delivery): void {
    const { message } = delivery;
    const properties: NonNullable<IPublishPacket['properties']> = { ...message.properties };
    const expiry = remainingExpirySeconds(message, this.ctx.now());
    if (expiry !== undefined) properties.messageExpiryInterval = expiry; // [MQTT-3.3.2-6]
    if (delivery.subscriptionIds && delivery.subscriptionIds.length > 0) {
      properties.subscriptionIdentifier = delivery.subscriptionIds.length === 1 ? delivery.subscriptionIds[0] : delivery.subscriptionIds;
    }
    const alias = this.outboundAliases?.resolve(message.topic);
    if (alias) {
      properties.topicAlias = alias.alias;
      if (!alias.isNew) packet.topic = '';
    }
    if (Object.keys(properties).length > 0) packet.properties = properties;
  }

  /**
   * A DISCONNECT packet for the server to send before closing (v5 only). A Server Reference
   * goes whatever Request Problem Information says: that setting covers only the Reason
   * String and User Properties [MQTT-3.1.2-29].
   */
  disconnectPacket(reasonCode: ReasonCode, reason: string, serverReference?: string): IDisconnectPacket {
    const packet: IDisconnectPacket = { cmd: 'disconnect', reasonCode };
    const properties: NonNullable<IDisconnectPacket['properties']> = {};
    if (reason && this.problemInformation) properties.reasonString = reason;
    if (serverReference !== undefined) properties.serverReference = serverReference;
    if (Object.keys(properties).length > 0) packet.properties = properties;
    return packet;
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled packet ${JSON.stringify(value)}`);
}
