// MQTT 5 properties: forwarded application properties, message expiry, topic aliases,
// maximum packet size, No Local, subscription identifiers, negotiated limits.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { IClientPublishOptions } from 'mqtt';
import type { IConnectPacket, IPublishPacket } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, connectWithInbox, end, Inbox, unique, type Received } from '../helpers/clients.ts';
import { RawClient, assertServerClosed } from '../helpers/raw-client.ts';

let server: TestBroker;
let limited: TestBroker;
before(async () => {
  server = await startBroker();
  limited = await startBroker({ maxPacketSize: 1024, receiveMaximum: 7, topicAliasMaximum: 3, maxSessionExpiry: 10 });
});
after(async () => {
  await Promise.all([server.stop(), limited.stop()]);
});

/** Publishes one message from a fresh v5 client to a fresh v5 subscriber and returns what arrived. */
async function forward(options: IClientPublishOptions, payload: string | Buffer = 'payload'): Promise<Received> {
  const topic = unique('forward');
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(topic, { qos: 1 });
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, payload, { qos: 1, ...options });
  const [message] = await inbox.waitFor(1);
  await end(sub, pub);
  return message!;
}

function publishPacket(topic: string, payload: string | Buffer, qos: 0 | 1 | 2, extra: Partial<IPublishPacket> = {}): IPublishPacket {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false, ...extra };
}

/** Reads PUBLISH packets from a raw client up to and including the one on `topic`. */
async function publishesUntil(client: RawClient, topic: string, aliases = new Map<number, string>()): Promise<IPublishPacket[]> {
  const got: IPublishPacket[] = [];
  for (;;) {
    const publish = await client.next('publish');
    got.push(publish);
    const alias = publish.properties?.topicAlias;
    const resolved = alias === undefined ? publish.topic : publish.topic === '' ? aliases.get(alias) : (aliases.set(alias, publish.topic), publish.topic);
    if (resolved === topic) return got;
  }
}

// --- Application properties travel unchanged (3.3.2.3) ---

test('[MQTT-3.3.2-4] v5: the Payload Format Indicator is forwarded unaltered', async () => {
  const message = await forward({ properties: { payloadFormatIndicator: true } }, 'ünïcödé');
  assert.equal(message.packet.properties?.payloadFormatIndicator, true);
});

test('[MQTT-3.3.2-15] v5: the Response Topic is forwarded unaltered', async () => {
  const message = await forward({ properties: { responseTopic: 'replies/for/me' } });
  assert.equal(message.packet.properties?.responseTopic, 'replies/for/me');
});

test('[MQTT-3.3.2-16] v5: the Correlation Data is forwarded unaltered', async () => {
  const correlationData = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  const message = await forward({ properties: { correlationData } });
  assert.deepEqual(message.packet.properties?.correlationData, correlationData);
});

test('[MQTT-3.3.2-17] v5: User Properties are forwarded unaltered', async () => {
  const userProperties = { tenant: 'acme', trace: 'abc-123', empty: '' };
  const message = await forward({ properties: { userProperties } });
  assert.deepEqual({ ...message.packet.properties?.userProperties }, userProperties);
});

test('[MQTT-3.3.2-18] v5: the order of User Properties is kept, repeated names included', async () => {
  const userProperties = { zulu: '1', alpha: ['2', '3'], mike: '4' };
  const message = await forward({ properties: { userProperties } });
  assert.deepEqual(Object.entries(message.packet.properties?.userProperties ?? {}), Object.entries(userProperties));
});

test('[MQTT-3.3.2-20] v5: the Content Type is forwarded unaltered', async () => {
  const message = await forward({ properties: { contentType: 'application/vnd.roost+json; charset=utf-8' } });
  assert.equal(message.packet.properties?.contentType, 'application/vnd.roost+json; charset=utf-8');
});

test('[§3.3.2.3.2] v5: a payload marked UTF-8 that is not gets PUBACK 0x99 and is not forwarded', async () => {
  const topic = unique('bad-utf8');
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync([topic, `${topic}/marker`], { qos: 1 });
  const { client: pub } = await RawClient.connect(server.port, 5);
  pub.send(publishPacket(topic, Buffer.from([0xc3, 0x28]), 1, { messageId: 5, properties: { payloadFormatIndicator: true } }));
  const puback = await pub.next('puback');
  assert.deepEqual([puback.messageId, puback.reasonCode], [5, ReasonCode.PayloadFormatInvalid]);
  pub.send(publishPacket(`${topic}/marker`, 'marker', 0));
  assert.deepEqual(inbox.pairs(await inbox.untilTopic(`${topic}/marker`)), [[`${topic}/marker`, 'marker']]);
  await pub.end();
  await end(sub);
});

// --- Message expiry (3.3.2.3.3) ---

test('[MQTT-3.3.2-6] v5: a message forwarded at once carries its Message Expiry Interval', async () => {
  const message = await forward({ properties: { messageExpiryInterval: 60 } });
  const remaining = message.packet.properties?.messageExpiryInterval;
  assert.ok(remaining === 60 || remaining === 59, `remaining ${remaining}`);
});

describe('message expiry while queued', { concurrency: true }, () => {
  /** Subscribes a persistent session to `topic`, leaves, publishes `messages`, waits `ms`, returns. */
  async function queuedFor(ms: number, messages: Array<[string, IClientPublishOptions]>): Promise<Received[]> {
    const clientId = unique('expiry');
    const topic = unique('expiry');
    const options = { protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await connect(server.url, options);
    await first.subscribeAsync([topic, `${topic}/marker`], { qos: 1 });
    await end(first);
    const pub = await connect(server.url, { protocolVersion: 5 });
    for (const [payload, publishOptions] of messages) await pub.publishAsync(topic, payload, { qos: 1, ...publishOptions });
    await delay(ms); // the elapsed time is the behaviour under test
    const { client: second, inbox } = await connectWithInbox(server.url, options);
    await pub.publishAsync(`${topic}/marker`, 'marker', { qos: 1 });
    const got = await inbox.untilTopic(`${topic}/marker`);
    await end(second, pub);
    return got.filter((m) => m.topic === topic);
  }

  test('[MQTT-3.3.2-5] v5: a message whose Message Expiry Interval passed while queued is not delivered', async () => {
    const got = await queuedFor(1100, [
      ['expires', { properties: { messageExpiryInterval: 1 } }],
      ['stays', {}],
    ]);
    assert.deepEqual(got.map((m) => m.payload.toString()), ['stays']);
  });

  test('[MQTT-3.3.2-6] v5: a queued message is sent with its Message Expiry Interval less the time it waited', async () => {
    const [message] = await queuedFor(1100, [['ageing', { properties: { messageExpiryInterval: 10 } }]]);
    const remaining = message!.packet.properties?.messageExpiryInterval;
    assert.ok(remaining !== undefined && remaining >= 8 && remaining <= 9, `remaining ${remaining}`);
  });
});

// --- Topic aliases (3.3.2.3.4) ---

test('[MQTT-3.3.2-12] v5: the server accepts topic aliases from 1 to its Topic Alias Maximum', async () => {
  const prefix = unique('alias-in');
  const sub = await connect(limited.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(`${prefix}/#`, { qos: 1 });
  const { client: pub, connack } = await RawClient.connect(limited.port, 5);
  assert.equal(connack.properties?.topicAliasMaximum, 3);
  pub.send(publishPacket(`${prefix}/one`, 'a', 0, { properties: { topicAlias: 1 } }));
  pub.send(publishPacket('', 'b', 0, { properties: { topicAlias: 1 } }));
  pub.send(publishPacket(`${prefix}/three`, 'c', 0, { properties: { topicAlias: 3 } }));
  pub.send(publishPacket('', 'd', 0, { properties: { topicAlias: 3 } }));
  pub.send(publishPacket(`${prefix}/other`, 'e', 0, { properties: { topicAlias: 1 } })); // re-maps alias 1
  pub.send(publishPacket('', 'f', 0, { properties: { topicAlias: 1 } }));
  assert.deepEqual(inbox.pairs(await inbox.waitFor(6)), [
    [`${prefix}/one`, 'a'],
    [`${prefix}/one`, 'b'],
    [`${prefix}/three`, 'c'],
    [`${prefix}/three`, 'd'],
    [`${prefix}/other`, 'e'],
    [`${prefix}/other`, 'f'],
  ]);
  await pub.end();
  await end(sub);
});

test('[MQTT-3.3.2-9] v5: a topic alias above the server\'s Topic Alias Maximum gets DISCONNECT 0x94', async () => {
  const { client } = await RawClient.connect(limited.port, 5);
  client.send(publishPacket(unique('alias-over'), 'x', 0, { properties: { topicAlias: 4 } }));
  await assertServerClosed(client, ReasonCode.TopicAliasInvalid);
});

test('[MQTT-3.3.2-8] v5: topic alias 0 gets DISCONNECT 0x94', async () => {
  const { client } = await RawClient.connect(server.port, 5);
  client.send(publishPacket(unique('alias-zero'), 'x', 0, { properties: { topicAlias: 0 } }));
  await assertServerClosed(client, ReasonCode.TopicAliasInvalid);
});

test('[MQTT-3.3.2-7] v5: topic aliases do not carry over to a new connection', async () => {
  const clientId = unique('alias-scope');
  const { client: first } = await RawClient.connect(server.port, 5, { clientId });
  first.send(publishPacket(unique('alias-scope'), 'x', 1, { messageId: 1, properties: { topicAlias: 1 } }));
  await first.next('puback');
  await first.end();
  const { client: second } = await RawClient.connect(server.port, 5, { clientId });
  second.send(publishPacket('', 'y', 0, { properties: { topicAlias: 1 } }));
  await assertServerClosed(second, ReasonCode.ProtocolError);
});

test('[MQTT-3.3.2-11] [MQTT-3.1.2-26] v5: the server sends no topic alias above the client\'s Topic Alias Maximum', async () => {
  const prefix = unique('alias-out');
  const { client: sub } = await RawClient.connect(server.port, 5, { properties: { topicAliasMaximum: 2 } });
  await sub.subscribe([{ topic: `${prefix}/#`, qos: 0 }]);
  const pub = await connect(server.url, { protocolVersion: 5 });
  const topics = ['a', 'b', 'c', 'a', 'c', 'b', 'a'].map((t) => `${prefix}/${t}`);
  for (const topic of topics) await pub.publishAsync(topic, topic, { qos: 0 });
  await pub.publishAsync(`${prefix}/end`, `${prefix}/end`, { qos: 0 });
  const got = await publishesUntil(sub, `${prefix}/end`);
  const used = got.flatMap((p) => (p.properties?.topicAlias === undefined ? [] : [p.properties.topicAlias]));
  assert.ok(used.length > 0, 'aliases are used');
  assert.ok(used.every((alias) => alias >= 1 && alias <= 2), `aliases ${used}`);
  // Every PUBLISH resolves to the topic it was published on.
  const resolved = new Map<number, string>();
  const names = got.map((p) => {
    const alias = p.properties?.topicAlias;
    if (alias === undefined) return p.topic;
    if (p.topic !== '') resolved.set(alias, p.topic);
    return resolved.get(alias);
  });
  assert.deepEqual(names, [...topics, `${prefix}/end`]);
  assert.deepEqual(got.map((p) => p.payload.toString()), names);
  await sub.end();
  await end(pub);
});

test('[MQTT-3.1.2-27] v5: without a Topic Alias Maximum from the client the server sends no topic aliases', async () => {
  const topic = unique('no-alias');
  const { client: sub } = await RawClient.connect(server.port, 5);
  await sub.subscribe([{ topic, qos: 0 }]);
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, 'one', { qos: 0 });
  await pub.publishAsync(topic, 'two', { qos: 0 });
  const got = [await sub.next('publish'), await sub.next('publish')];
  assert.deepEqual(got.map((p) => [p.topic, p.properties?.topicAlias]), [[topic, undefined], [topic, undefined]]);
  await sub.end();
  await end(pub);
});

// --- Maximum Packet Size (3.1.2.11.4, 3.2.2.3.6) ---

test('[MQTT-3.1.2-24] v5: a message larger than the client\'s Maximum Packet Size is not sent to it', async () => {
  const topic = unique('too-big');
  const { client: sub } = await RawClient.connect(server.port, 5, { properties: { maximumPacketSize: 200 } });
  await sub.subscribe([{ topic, qos: 1 }]);
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, 'x'.repeat(500), { qos: 1 });
  await pub.publishAsync(topic, 'small', { qos: 1 });
  const publish = await sub.next('publish');
  assert.equal(publish.payload.toString(), 'small');
  sub.send({ cmd: 'puback', messageId: publish.messageId });
  await sub.end();
  await end(pub);
});

test('[MQTT-3.2.2-19] v5: a refusing CONNACK leaves out its Reason String when it would exceed the client\'s Maximum Packet Size', async () => {
  const client = await RawClient.open(server.port, 5);
  client.send(client.connectPacket({ properties: { maximumPacketSize: 16, authenticationMethod: 'no-such-method' } }));
  const connack = await client.next('connack');
  assert.equal(connack.reasonCode, ReasonCode.BadAuthenticationMethod);
  assert.equal(connack.properties?.reasonString, undefined);
  assert.ok((connack.length ?? 0) + 2 <= 16);
  await client.waitClosed();
});

test('[MQTT-3.1.2-24] v5: a CONNACK that cannot fit the client\'s Maximum Packet Size is not sent; the connection closes', async () => {
  const client = await RawClient.open(server.port, 5);
  client.send(client.connectPacket({ clientId: unique('tiny-limit'), properties: { maximumPacketSize: 4 } }));
  await client.waitClosed();
  assert.deepEqual(client.unread.map((p) => p.cmd), []);
});

test('[MQTT-3.1.2-25] v5: a message too large for the client counts as sent: it takes no window slot and is not resent', async () => {
  const topic = unique('as-if-sent');
  const clientId = unique('as-if-sent');
  const fields: Partial<IConnectPacket> = {
    clientId,
    clean: false,
    properties: { maximumPacketSize: 200, receiveMaximum: 1, sessionExpiryInterval: 60 },
  };
  const { client: first } = await RawClient.connect(server.port, 5, fields);
  await first.subscribe([{ topic, qos: 1 }, { topic: `${topic}/marker`, qos: 0 }]);
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, 'x'.repeat(500), { qos: 1 });
  await pub.publishAsync(topic, 'small', { qos: 1 });
  // With a window of 1, 'small' only comes if the dropped message did not hold the slot.
  assert.equal((await first.next('publish')).payload.toString(), 'small');
  first.destroy();

  const second = await RawClient.open(server.port, 5);
  await second.connect({ ...fields, clean: false });
  await pub.publishAsync(`${topic}/marker`, 'marker', { qos: 0 });
  const resent = await publishesUntil(second, `${topic}/marker`);
  assert.deepEqual(resent.map((p) => [p.payload.toString(), p.dup]), [['small', true], ['marker', false]]);
  await second.end();
  await end(pub);
});

for (const version of [4, 5] as const) {
  test(`[MQTT-3.2.2-15] v${version}: a packet larger than the server's Maximum Packet Size closes the connection (v5: DISCONNECT 0x95)`, async () => {
    const { client, connack } = await RawClient.connect(limited.port, version);
    if (version === 5) assert.equal(connack.properties?.maximumPacketSize, 1024);
    client.send(publishPacket(unique('oversize'), 'x'.repeat(2000), 0));
    await assertServerClosed(client, ReasonCode.PacketTooLarge);
  });
}

// --- Subscription options and identifiers (3.8.3.1, 3.8.2.1.2) ---

test('[MQTT-3.8.3-3] v5: with No Local a client does not receive its own messages', async () => {
  const topic = unique('no-local');
  const self = await connect(server.url, { protocolVersion: 5 });
  const selfInbox = new Inbox(self);
  await self.subscribeAsync(topic, { qos: 1, nl: true });
  await self.subscribeAsync(`${topic}/marker`, { qos: 1 });
  const other = await connect(server.url, { protocolVersion: 5 });
  const otherInbox = new Inbox(other);
  await other.subscribeAsync(topic, { qos: 1 });
  await self.publishAsync(topic, 'mine', { qos: 1 });
  await self.publishAsync(`${topic}/marker`, 'marker', { qos: 1 });
  assert.deepEqual(selfInbox.pairs(await selfInbox.untilTopic(`${topic}/marker`)), [[`${topic}/marker`, 'marker']]);
  assert.deepEqual(otherInbox.pairs(await otherInbox.waitFor(1)), [[topic, 'mine']]);
  await end(self, other);
});

test('[MQTT-3.3.4-3] v5: a message sent for a subscription with a Subscription Identifier carries it', async () => {
  const topic = unique('sub-id');
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(topic, { qos: 1, properties: { subscriptionIdentifier: 7 } });
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, 'tagged', { qos: 1 });
  const [message] = await inbox.waitFor(1);
  assert.equal(message!.packet.properties?.subscriptionIdentifier, 7);
  await end(sub, pub);
});

test('[§3.8.2.1.2] v5: retained messages sent on SUBSCRIBE carry its Subscription Identifier', async () => {
  const topic = unique('sub-id-retained');
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, 'retained', { qos: 1, retain: true });
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(topic, { qos: 1, properties: { subscriptionIdentifier: 11 } });
  const [message] = await inbox.waitFor(1);
  assert.equal(message!.packet.retain, true);
  assert.equal(message!.packet.properties?.subscriptionIdentifier, 11);
  await end(sub, pub);
});

test('[MQTT-3.3.4-4] v5: one message for overlapping subscriptions carries all their Subscription Identifiers', async () => {
  const prefix = unique('sub-ids');
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(`${prefix}/+`, { qos: 1, properties: { subscriptionIdentifier: 5 } });
  await sub.subscribeAsync(`${prefix}/#`, { qos: 1, properties: { subscriptionIdentifier: 9 } });
  await sub.subscribeAsync(`${prefix}/marker/end`, { qos: 1 });
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(`${prefix}/x`, 'both', { qos: 1 });
  await pub.publishAsync(`${prefix}/marker/end`, 'marker', { qos: 1 });
  const got = await inbox.untilTopic(`${prefix}/marker/end`);
  const first = got[0]!;
  assert.equal(first.topic, `${prefix}/x`);
  assert.equal(got.filter((m) => m.topic === `${prefix}/x`).length, 1, 'a single copy');
  const ids = [first.packet.properties?.subscriptionIdentifier].flat().sort();
  assert.deepEqual(ids, [5, 9]);
  await end(sub, pub);
});

test('[MQTT-3.3.4-6] v5: a PUBLISH from a client carrying a Subscription Identifier is a protocol error', async () => {
  const { client } = await RawClient.connect(server.port, 5);
  client.send(publishPacket(unique('sub-id-from-client'), 'x', 0, { properties: { subscriptionIdentifier: 3 } }));
  await assertServerClosed(client, ReasonCode.ProtocolError);
});

// --- Negotiated limits in CONNACK (3.2.2.3) ---

test('[§3.2.2.3] v5: CONNACK announces Receive Maximum, Maximum Packet Size and Topic Alias Maximum', async () => {
  const { client, connack } = await RawClient.connect(limited.port, 5);
  assert.equal(connack.properties?.receiveMaximum, 7);
  assert.equal(connack.properties?.maximumPacketSize, 1024);
  assert.equal(connack.properties?.topicAliasMaximum, 3);
  await client.end();
});

test('[§3.2.2.3.2] v5: a Session Expiry Interval above the server maximum is capped and the capped value returned', async () => {
  const { client, connack } = await RawClient.connect(limited.port, 5, { properties: { sessionExpiryInterval: 3600 } });
  assert.equal(connack.properties?.sessionExpiryInterval, 10);
  await client.end();
});
