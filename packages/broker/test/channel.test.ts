// The protocol state machine without sockets: packets in, actions out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IConnectPacket, IPublishPacket, Packet } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import { Session, type Delivery } from '@roost/session';
import { Channel, ClientPermissions, defaultLimits, type Action, type AuthDecision, type BrokerLimits } from '@roost/broker';

function channel(limits: Partial<BrokerLimits> = {}, now = () => 1_000_000): Channel {
  return new Channel({ limits: { ...defaultLimits, ...limits }, now, assignClientId: () => 'assigned-1' });
}

function connectPacket(overrides: Partial<IConnectPacket> = {}): IConnectPacket {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c1', clean: true, keepalive: 30, ...overrides };
}

/** What the broker's Authenticator answers when no provider is configured. */
function acceptAnyone(clientId: string): AuthDecision {
  return { outcome: 'accept', permissions: new ClientPermissions({ clientId, username: undefined, provider: 'none' }) };
}

/** CONNECT, accepted: the actions that follow the Authenticator's decision. */
function authenticated(ch: Channel, packet: IConnectPacket): Action[] {
  const actions = ch.handle(packet);
  assert.equal(actions[0]?.type, 'authenticate');
  return ch.authenticated(acceptAnyone(ch.clientId));
}

/** CONNECT and attach a fresh session; returns the CONNACK actions. */
function connected(ch: Channel, overrides: Partial<IConnectPacket> = {}): Action[] {
  const actions = authenticated(ch, connectPacket(overrides));
  const attach = actions.find((a) => a.type === 'attach');
  assert.ok(attach && attach.type === 'attach');
  return ch.attached(new Session(attach.request.clientId, attach.request.sessionExpiry), false);
}

function sent(actions: Action[]): Packet[] {
  return actions.flatMap((a) => (a.type === 'send' ? [a.packet] : []));
}

function closeOf(actions: Action[]) {
  const close = actions.find((a) => a.type === 'close');
  assert.ok(close && close.type === 'close', `expected a close action in ${JSON.stringify(actions.map((a) => a.type))}`);
  return close;
}

function delivery(qos: 0 | 1 | 2, topic = 't', payload = 'x'): Delivery {
  return { message: { topic, payload: Buffer.from(payload), qos, retain: false }, qos, retain: false };
}

test('[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection', () => {
  const ch = channel();
  const close = closeOf(ch.handle({ cmd: 'pingreq' }));
  assert.equal(close.reasonCode, ReasonCode.ProtocolError);
  assert.equal(close.notify, false);
});

test('[MQTT-3.1.0-2] a second CONNECT is a protocol error answered by DISCONNECT on v5', () => {
  const ch = channel();
  connected(ch);
  const close = closeOf(ch.handle(connectPacket()));
  assert.equal(close.reasonCode, ReasonCode.ProtocolError);
  assert.equal(close.notify, true);
  assert.equal(ch.state, 'closed');
});

test('[MQTT-3.1.3-6] [MQTT-3.2.2-16] an empty v5 client id is assigned and returned in CONNACK', () => {
  const ch = channel();
  const [connack] = sent(connected(ch, { clientId: '' }));
  assert.equal(connack?.cmd, 'connack');
  assert.equal(ch.clientId, 'assigned-1');
  assert.equal((connack as { properties?: { assignedClientIdentifier?: string } }).properties?.assignedClientIdentifier, 'assigned-1');
});

test('[MQTT-3.1.3-8] v3.1.1 empty client id with clean session 0 gets CONNACK 0x02', () => {
  const ch = channel();
  const actions = ch.handle(connectPacket({ protocolVersion: 4, clientId: '', clean: false }));
  const [connack] = sent(actions);
  assert.deepEqual(connack, { cmd: 'connack', sessionPresent: false, returnCode: 2 });
  closeOf(actions);
});

test('[MQTT-3.2.2-2] session present is reported when the session was resumed', () => {
  const ch = channel();
  const actions = authenticated(ch, connectPacket({ clean: false }));
  assert.equal(actions[0]?.type, 'attach');
  const [connack] = sent(ch.attached(new Session('c1', 60), true));
  assert.equal((connack as { sessionPresent: boolean }).sessionPresent, true);
});

test('[MQTT-3.3.2-2] a wildcard in a PUBLISH topic closes with TopicNameInvalid', () => {
  const ch = channel();
  connected(ch);
  const close = closeOf(ch.handle({ cmd: 'publish', topic: 'a/+', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false }));
  assert.equal(close.reasonCode, ReasonCode.TopicNameInvalid);
});

test('[MQTT-4.3.3-10] a resent QoS 2 PUBLISH is routed again under the same packet id (the broker gives it the first id), then PUBREC', () => {
  const ch = channel();
  connected(ch);
  const publish: IPublishPacket = { cmd: 'publish', topic: 'a', payload: Buffer.from('1'), qos: 2, retain: false, dup: false, messageId: 7 };
  const first = ch.handle(publish);
  assert.deepEqual(first.filter((a) => a.type === 'publish').map((a) => a.qos2PacketId), [7]);
  ch.session!.inboundQos2.set(7, 'm1'); // what the broker records before routing
  const second = ch.handle({ ...publish, dup: true });
  assert.deepEqual(second.filter((a) => a.type === 'publish').map((a) => a.qos2PacketId), [7]);
  assert.equal(sent(second)[0]?.cmd, 'pubrec');
  const pubcomp = sent(ch.handle({ cmd: 'pubrel', messageId: 7 }))[0];
  assert.deepEqual(pubcomp, { cmd: 'pubcomp', messageId: 7, reasonCode: ReasonCode.Success });
  assert.equal(ch.session!.inboundQos2.size, 0);
});

test('[MQTT-3.3.4-9] more unreleased QoS 2 messages than Receive Maximum is ReceiveMaximumExceeded', () => {
  const ch = channel({ receiveMaximum: 2 });
  connected(ch);
  const publish = (messageId: number): Packet => ({ cmd: 'publish', topic: 'a', payload: Buffer.alloc(0), qos: 2, retain: false, dup: false, messageId });
  for (const messageId of [1, 2]) {
    ch.handle(publish(messageId));
    ch.session!.inboundQos2.set(messageId, `m${messageId}`); // the broker records it before routing
  }
  assert.equal(closeOf(ch.handle(publish(3))).reasonCode, ReasonCode.ReceiveMaximumExceeded);
});

test('[MQTT-3.3.4-7] no more QoS 1/2 deliveries in flight than the client Receive Maximum', () => {
  const ch = channel();
  connected(ch, { properties: { receiveMaximum: 2 } });
  const publishes = [1, 2, 3].flatMap(() => sent(ch.deliver(delivery(1))));
  assert.equal(publishes.length, 2);
  assert.equal(ch.session!.queue.length, 1);
  const next = sent(ch.handle({ cmd: 'puback', messageId: publishes[0]!.messageId! }));
  assert.equal(next.length, 1, 'the PUBACK frees one slot for the queued message');
});

test('[MQTT-4.4.0-1] a QoS 2 message leaving the queue waits for its packet id to be stored; a QoS 1 one does not', () => {
  const ch = channel();
  connected(ch, { clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } });
  const [first] = sent(ch.deliver(delivery(1, 'a')));
  ch.deliver(delivery(1, 'b'));
  ch.deliver(delivery(2, 'c'));
  const afterFirst = ch.handle({ cmd: 'puback', messageId: first!.messageId! });
  assert.deepEqual(afterFirst.map((a) => a.type), ['send'], 'the queued QoS 1 message goes at once');
  const second = sent(afterFirst)[0]!;
  const afterSecond = ch.handle({ cmd: 'puback', messageId: second.messageId! });
  assert.deepEqual(afterSecond.map((a) => a.type), ['persist', 'send'], 'the QoS 2 PUBLISH follows a persist');
});

test('[MQTT-4.4.0-1] resumption resends unacknowledged PUBLISH with DUP and PUBREL in order', () => {
  const first = channel();
  connected(first, { clean: false, properties: { sessionExpiryInterval: 60 } });
  const session = first.session!;
  const [p1] = sent(first.deliver(delivery(1, 'a')));
  const [p2] = sent(first.deliver(delivery(2, 'b')));
  first.handle({ cmd: 'pubrec', messageId: p2!.messageId! });

  const second = channel();
  authenticated(second, connectPacket({ clean: false, properties: { sessionExpiryInterval: 60 } }));
  const resent = sent(second.attached(session, true)).slice(1);
  assert.deepEqual(resent.map((p) => [p.cmd, p.messageId, (p as IPublishPacket).dup]), [
    ['publish', p1!.messageId, true],
    ['pubrel', p2!.messageId, undefined],
  ]);
});

test('[MQTT-3.1.2-25] a message larger than the client Maximum Packet Size is not sent', () => {
  const ch = channel();
  connected(ch, { properties: { maximumPacketSize: 64 } });
  assert.equal(sent(ch.deliver(delivery(1, 't', 'x'.repeat(100)))).length, 0);
  assert.equal(ch.session!.inflight.size, 0, 'the message counts as delivered');
  assert.equal(sent(ch.deliver(delivery(1, 't', 'small'))).length, 1);
});

test('[MQTT-3.3.2-6] message expiry is sent as the time remaining', () => {
  let now = 1_000_000;
  const ch = channel({}, () => now);
  connected(ch);
  const d = delivery(0);
  d.message.expiresAt = now + 10_000;
  now += 4_000;
  const [publish] = sent(ch.deliver(d));
  assert.equal((publish as IPublishPacket).properties?.messageExpiryInterval, 6);
  now += 7_000;
  assert.equal(sent(ch.deliver(d)).length, 0, '[MQTT-3.3.2-5] an expired message is not sent');
});

test('[MQTT-3.3.2-9] outbound topic aliases stay within the client Topic Alias Maximum', () => {
  const ch = channel();
  connected(ch, { properties: { topicAliasMaximum: 1 } });
  const topics = ['a', 'a', 'b'].map((t) => sent(ch.deliver(delivery(0, t)))[0] as IPublishPacket);
  assert.deepEqual(topics.map((p) => [p.topic, p.properties?.topicAlias]), [
    ['a', 1],
    ['', 1],
    ['b', undefined],
  ]);
});

test('[MQTT-3.3.2-12] an inbound topic alias above the maximum closes with TopicAliasInvalid', () => {
  const ch = channel({ topicAliasMaximum: 2 });
  connected(ch);
  const publish: IPublishPacket = { cmd: 'publish', topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } };
  assert.equal(closeOf(ch.handle(publish)).reasonCode, ReasonCode.TopicAliasInvalid);
});

test('[§3.14.2.2.2] setting session expiry on DISCONNECT after 0 at CONNECT is a protocol error', () => {
  const ch = channel();
  connected(ch);
  const close = closeOf(ch.handle({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } }));
  assert.equal(close.reasonCode, ReasonCode.ProtocolError);
});

test('[MQTT-3.14.4-3] DISCONNECT 0x00 discards the will; 0x04 keeps it', () => {
  const will = { topic: 'w', payload: Buffer.from('gone'), qos: 0 as const, retain: false };
  const normal = channel();
  connected(normal, { will });
  normal.handle({ cmd: 'disconnect', reasonCode: 0 });
  assert.equal(normal.will, undefined);
  const withWill = channel();
  connected(withWill, { will });
  withWill.handle({ cmd: 'disconnect', reasonCode: ReasonCode.DisconnectWithWillMessage });
  assert.equal(withWill.will?.message.topic, 'w');
});

test('[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error', () => {
  const ch = channel();
  connected(ch);
  const close = closeOf(ch.handle({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/a', qos: 0, nl: true }] }));
  assert.equal(close.reasonCode, ReasonCode.ProtocolError);
});

test('[MQTT-3.8.4-1] [MQTT-3.8.4-5] every filter takes effect before SUBACK; SUBACK precedes the retained messages', () => {
  const ch = channel();
  connected(ch);
  const subscriptions = [{ topic: 'a/#', qos: 1 }, { topic: 'bad/#/x', qos: 1 }, { topic: 'b', qos: 0 }] as const;
  const actions = ch.handle({ cmd: 'subscribe', messageId: 1, subscriptions: [...subscriptions] });
  assert.deepEqual(actions.map((a) => a.type), ['subscribe', 'subscribe', 'send', 'send-retained', 'send-retained']);
  const suback = sent(actions)[0] as { granted: number[] };
  assert.deepEqual(suback.granted, [ReasonCode.GrantedQoS1, ReasonCode.TopicFilterInvalid, ReasonCode.GrantedQoS0]);
});

test('[MQTT-4.12.0-7] AUTH without an authentication method is a protocol error', () => {
  const ch = channel();
  connected(ch);
  assert.equal(closeOf(ch.handle({ cmd: 'auth', reasonCode: ReasonCode.ReAuthenticate })).reasonCode, ReasonCode.ProtocolError);
});
