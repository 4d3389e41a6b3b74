// The limits the channel applies, without a network: keep alive, subscriptions, topic length
// and levels, the ACL deny action, and the admission a connection arrived with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IConnackPacket, IConnectPacket, IPubackPacket, ISubackPacket, Packet } from 'mqtt-packet';
import { ReasonCode, SubackFailureV3 } from '@roost/protocol';
import { Session } from '@roost/session';
import { Channel, ClientPermissions, defaultLimits, type Action, type Admission, type BrokerLimits, type RuleSource } from '@roost/broker';

function channel(limits: Partial<BrokerLimits> = {}, admission?: Admission): Channel {
  return new Channel({ limits: { ...defaultLimits, ...limits }, now: () => 1_000_000, assignClientId: () => 'assigned-1' }, admission);
}

function connectPacket(version: 4 | 5, overrides: Partial<IConnectPacket> = {}): IConnectPacket {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: 'c1', clean: true, keepalive: 30, ...overrides };
}

/** Only `allowed` may be published to: an ACL as a rule source. */
function onlyPublishTo(allowed: string): RuleSource {
  return { name: 'test', generation: 1, compile: () => ({ allowsTopic: (access, topic) => access === 'read' || topic === allowed, allowsFilter: () => true }) };
}

/** CONNECT through to CONNACK; returns the actions of CONNECT and of the CONNACK. */
function connect(ch: Channel, packet: IConnectPacket, rules?: RuleSource): { first: Action[]; connack: IConnackPacket | undefined } {
  const first = ch.handle(packet);
  if (!first.some((a) => a.type === 'authenticate')) return { first, connack: sent(first).find((p) => p.cmd === 'connack') as IConnackPacket | undefined };
  const permissions = new ClientPermissions({ clientId: ch.clientId, username: undefined, provider: 'none' }, rules);
  const attach = ch.authenticated({ outcome: 'accept', permissions }).find((a) => a.type === 'attach');
  assert.ok(attach && attach.type === 'attach');
  const connack = sent(ch.attached(new Session(attach.request.clientId, attach.request.sessionExpiry), false))[0] as IConnackPacket;
  return { first, connack };
}

function sent(actions: Action[]): Packet[] {
  return actions.flatMap((a) => (a.type === 'send' ? [a.packet] : []));
}

function limitsHit(actions: Action[]): string[] {
  return actions.flatMap((a) => (a.type === 'limit' ? [a.limit] : []));
}

function closeOf(actions: Action[]): Extract<Action, { type: 'close' }> | undefined {
  return actions.find((a): a is Extract<Action, { type: 'close' }> => a.type === 'close');
}

test('[MQTT-3.2.2-21] v5: a keep alive above ROOST_MAX_KEEPALIVE is answered with Server Keep Alive, and used', () => {
  const ch = channel({ maxKeepAlive: 60 });
  const { first, connack } = connect(ch, connectPacket(5, { keepalive: 300 }));
  assert.equal(connack?.properties?.serverKeepAlive, 60);
  assert.equal(ch.keepAlive, 60);
  assert.deepEqual(limitsHit(first), ['max_keepalive']);
});

test('[MQTT-3.2.2-21] v5: keep alive 0 under ROOST_MAX_KEEPALIVE gets the maximum as Server Keep Alive', () => {
  const ch = channel({ maxKeepAlive: 60 });
  const { connack } = connect(ch, connectPacket(5, { keepalive: 0 }));
  assert.equal(connack?.properties?.serverKeepAlive, 60);
  assert.equal(ch.keepAlive, 60);
});

test('[MQTT-3.2.2-22] v5: a keep alive within ROOST_MAX_KEEPALIVE is the client\'s, and no Server Keep Alive is sent', () => {
  const ch = channel({ maxKeepAlive: 60 });
  const { first, connack } = connect(ch, connectPacket(5, { keepalive: 60 }));
  assert.equal(connack?.properties?.serverKeepAlive, undefined);
  assert.equal(ch.keepAlive, 60);
  assert.deepEqual(limitsHit(first), []);
});

test('[MQTT-3.1.2-24] v3.1.1: a keep alive above ROOST_MAX_KEEPALIVE (or 0) is refused with CONNACK 2, as Mosquitto does', () => {
  for (const keepalive of [61, 0]) {
    const ch = channel({ maxKeepAlive: 60 });
    const { first, connack } = connect(ch, connectPacket(4, { keepalive }));
    assert.equal(connack?.returnCode, 2, `keep alive ${keepalive}`);
    assert.ok(closeOf(first));
    assert.deepEqual(limitsHit(first), ['max_keepalive']);
  }
  const within = channel({ maxKeepAlive: 60 });
  assert.equal(connect(within, connectPacket(4, { keepalive: 59 })).connack?.returnCode, 0);
  assert.equal(within.keepAlive, 59);
});

test('ROOST_MAX_SUBSCRIPTIONS: a filter beyond the quota gets SUBACK 0x97 (v5) / 0x80 (v3); replacing a held filter does not count', () => {
  for (const version of [5, 4] as const) {
    const ch = channel({ maxSubscriptions: 2 });
    connect(ch, connectPacket(version));
    const first = ch.handle({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 1 }, { topic: 'b', qos: 1 }, { topic: 'c', qos: 1 }] });
    const over = version === 5 ? ReasonCode.QuotaExceeded : SubackFailureV3;
    assert.deepEqual((sent(first)[0] as ISubackPacket).granted, [1, 1, over]);
    assert.deepEqual(limitsHit(first), ['max_subscriptions']);
    const again = ch.handle({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a', qos: 0 }, { topic: 'd', qos: 0 }] });
    assert.deepEqual((sent(again)[0] as ISubackPacket).granted, [0, over]);
    ch.handle({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['b'] });
    const freed = ch.handle({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: 'd', qos: 0 }] });
    assert.deepEqual((sent(freed)[0] as ISubackPacket).granted, [0], 'an unsubscribe frees a place');
  }
});

test('ROOST_MAX_TOPIC_LENGTH / LEVELS: a SUBSCRIBE filter over either gets 0x8F Topic Filter invalid (v5) / 0x80 (v3), per filter', () => {
  for (const version of [5, 4] as const) {
    const ch = channel({ maxTopicLength: 16, maxTopicLevels: 3 });
    connect(ch, connectPacket(version));
    const actions = ch.handle({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b/c', qos: 1 }, { topic: 'a/b/c/d', qos: 1 }, { topic: 'x'.repeat(17), qos: 1 }, { topic: '$share/g/a/+/#', qos: 0 }] });
    const invalid = version === 5 ? ReasonCode.TopicFilterInvalid : SubackFailureV3;
    assert.deepEqual((sent(actions)[0] as ISubackPacket).granted, [1, invalid, invalid, 0]);
    assert.deepEqual(limitsHit(actions), ['topic_levels', 'topic_length']);
    assert.deepEqual(actions.filter((a) => a.type === 'subscribe').map((a) => a.type === 'subscribe' && a.filter), ['a/b/c', '$share/g/a/+/#']);
  }
});

test('ROOST_MAX_TOPIC_LEVELS, v5: a PUBLISH over it at QoS 1/2 gets PUBACK/PUBREC 0x90 Topic Name invalid and is not routed', () => {
  const ch = channel({ maxTopicLevels: 2 });
  connect(ch, connectPacket(5));
  for (const [qos, cmd] of [[1, 'puback'], [2, 'pubrec']] as const) {
    const actions = ch.handle({ cmd: 'publish', topic: 'a/b/c', payload: Buffer.from('x'), qos, retain: false, dup: false, messageId: qos });
    const ack = sent(actions)[0] as IPubackPacket;
    assert.equal(ack.cmd, cmd);
    assert.equal(ack.reasonCode, ReasonCode.TopicNameInvalid);
    assert.equal(actions.some((a) => a.type === 'publish'), false);
    assert.deepEqual(limitsHit(actions), ['topic_levels']);
  }
  assert.equal(ch.state, 'connected');
});

test('ROOST_MAX_TOPIC_LENGTH: a PUBLISH over it at QoS 0 (v5), or at any QoS on v3, closes the connection (v5: DISCONNECT 0x90)', () => {
  for (const [version, qos] of [[5, 0], [4, 0], [4, 1]] as const) {
    const ch = channel({ maxTopicLength: 8 });
    connect(ch, connectPacket(version));
    const actions = ch.handle({ cmd: 'publish', topic: 'too/long/topic', payload: Buffer.from('x'), qos, retain: false, dup: false, messageId: qos ? 1 : undefined } as Packet);
    const close = closeOf(actions);
    assert.equal(close?.reasonCode, ReasonCode.TopicNameInvalid);
    assert.equal(close?.notify, version === 5);
    assert.equal(actions.some((a) => a.type === 'publish' || a.type === 'send'), false);
    assert.deepEqual(limitsHit(actions), ['topic_length']);
  }
});

test('ROOST_MAX_TOPIC_LEVELS: a topic alias is resolved before the limit is checked', () => {
  const ch = channel({ maxTopicLevels: 2 });
  connect(ch, connectPacket(5));
  ch.handle({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 1 } });
  const deep = ch.handle({ cmd: 'publish', topic: 'a/b/c', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId: 5, properties: { topicAlias: 2 } });
  assert.equal((sent(deep)[0] as IPubackPacket).reasonCode, ReasonCode.TopicNameInvalid);
  const byAlias = ch.handle({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId: 6, properties: { topicAlias: 1 } });
  assert.equal(byAlias.some((a) => a.type === 'publish'), true);
});

test('ROOST_MAX_TOPIC_LENGTH: a will topic over it is refused at CONNECT (v5 CONNACK 0x90; v3 closed without CONNACK)', () => {
  for (const version of [5, 4] as const) {
    const ch = channel({ maxTopicLength: 8 });
    const { first, connack } = connect(ch, connectPacket(version, { will: { topic: 'too/long/will', payload: Buffer.from('x'), qos: 0, retain: false } }));
    assert.equal(version === 5 ? connack?.reasonCode : connack, version === 5 ? ReasonCode.TopicNameInvalid : undefined);
    assert.ok(closeOf(first));
    assert.deepEqual(limitsHit(first), ['topic_length']);
  }
});

test('ROOST_ACL_DENY_ACTION=disconnect: a denied PUBLISH closes the connection, at every QoS (v5: DISCONNECT 0x87)', () => {
  for (const version of [5, 4] as const) {
    for (const qos of [0, 1, 2] as const) {
      const ch = channel({ aclDenyAction: 'disconnect' });
      connect(ch, connectPacket(version), onlyPublishTo('allowed'));
      const ok = ch.handle({ cmd: 'publish', topic: 'allowed', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
      assert.equal(ok.some((a) => a.type === 'publish'), true);
      const actions = ch.handle({ cmd: 'publish', topic: 'denied', payload: Buffer.from('x'), qos, retain: false, dup: false, messageId: qos ? 1 : undefined } as Packet);
      assert.deepEqual(actions.map((a) => a.type), ['denied', 'close'], `v${version} QoS ${qos}`);
      const close = closeOf(actions)!;
      assert.equal(close.reasonCode, ReasonCode.NotAuthorized);
      assert.equal(close.notify, version === 5);
    }
  }
});

test('ROOST_ACL_DENY_ACTION=ignore (the default): a denied PUBLISH is acknowledged (v5: 0x87) and dropped, the connection stays', () => {
  for (const version of [5, 4] as const) {
    const ch = channel();
    connect(ch, connectPacket(version), onlyPublishTo('allowed'));
    const actions = ch.handle({ cmd: 'publish', topic: 'denied', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId: 1 });
    assert.equal(closeOf(actions), undefined);
    const ack = sent(actions)[0] as IPubackPacket;
    assert.equal(ack.cmd, 'puback');
    if (version === 5) assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
    assert.equal(ch.state, 'connected');
  }
});

test('a connection over ROOST_MAX_CONNECT_RATE gets CONNACK 0x9F Connection rate exceeded (v5) / 3 (v3)', () => {
  for (const version of [5, 4] as const) {
    const ch = channel({}, 'connect-rate');
    const { first, connack } = connect(ch, connectPacket(version));
    if (version === 5) assert.equal(connack?.reasonCode, ReasonCode.ConnectionRateExceeded);
    else assert.equal(connack?.returnCode, 3);
    assert.ok(closeOf(first));
  }
});
