// Shared subscriptions `$share/{group}/{filter}` (MQTT 5 4.8.2).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { ReasonCode } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import type { IConnectPacket } from 'mqtt-packet';
import { RawClient, assertServerClosed } from '../helpers/raw-client.ts';

let server: TestBroker;
before(async () => (server = await startBroker()));
after(() => server.stop());

interface Member {
  client: MqttClient;
  inbox: Inbox;
}

/** A v5 client subscribed to `filter` and, directly, to `marker`. */
async function member(filter: string, marker: string, qos: 0 | 1 | 2 = 1): Promise<Member> {
  const client = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(client);
  await client.subscribeAsync(filter, { qos });
  await client.subscribeAsync(marker, { qos: 1 });
  return { client, inbox };
}

/** Publishes `count` QoS 1 messages on `topic`, then the marker; returns each member's payloads before it. */
async function distribute(members: Member[], topic: string, marker: string, count: number): Promise<string[][]> {
  const pub = await connect(server.url, { protocolVersion: 5 });
  for (let i = 0; i < count; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
  await pub.publishAsync(marker, 'marker', { qos: 1 });
  const received = await Promise.all(members.map(async ({ inbox }) => (await inbox.untilTopic(marker)).filter((m) => m.topic === topic)));
  await end(pub);
  return received.map((messages) => messages.map((m) => m.payload.toString()));
}

const sent = (count: number) => Array.from({ length: count }, (_, i) => `m${i}`).sort();

test('[§4.8.2] v5: each message on a shared subscription goes to exactly one member of the group', async () => {
  const topic = unique('shared');
  const marker = `${topic}-marker`;
  const members = await Promise.all([1, 2, 3].map(() => member(`$share/workers/${topic}`, marker)));
  const received = await distribute(members, topic, marker, 30);
  assert.deepEqual(received.flat().sort(), sent(30));
  await end(...members.map((m) => m.client));
});

test('[§4.8.2] v5: every group, and every non-shared subscription, gets its own copy', async () => {
  const topic = unique('groups');
  const marker = `${topic}-marker`;
  const groupA = await Promise.all([1, 2].map(() => member(`$share/a/${topic}`, marker)));
  const groupB = [await member(`$share/b/${topic}`, marker)];
  const plain = [await member(topic, marker)];
  const [a1, a2, b, direct] = await distribute([...groupA, ...groupB, ...plain], topic, marker, 10);
  assert.deepEqual([...a1!, ...a2!].sort(), sent(10));
  assert.deepEqual(b!.sort(), sent(10));
  assert.deepEqual(direct!.sort(), sent(10));
  await end(...[...groupA, ...groupB, ...plain].map((m) => m.client));
});

test('[MQTT-4.8.2-3] v5: a shared subscriber receives messages at the QoS granted to its subscription', async () => {
  const topic = unique('shared-qos');
  const marker = `${topic}-marker`;
  const atMostOnce = await member(`$share/q0/${topic}`, marker, 0);
  const atLeastOnce = await member(`$share/q1/${topic}`, marker, 1);
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, 'two', { qos: 2 });
  const [m0] = await atMostOnce.inbox.waitFor(1);
  const [m1] = await atLeastOnce.inbox.waitFor(1);
  assert.deepEqual([m0!.packet.qos, m1!.packet.qos], [0, 1]);
  await end(atMostOnce.client, atLeastOnce.client, pub);
});

test('[§3.3.1.3] v5: a new shared subscription is not sent retained messages', async () => {
  const topic = unique('shared-retained');
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, 'retained', { qos: 1, retain: true });
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
  await pub.publishAsync(topic, 'live', { qos: 1 });
  assert.deepEqual(inbox.pairs(await inbox.untilTopic(topic)), [[topic, 'live']]);
  await end(sub, pub);
});

test('[MQTT-4.8.2-1] [MQTT-4.8.2-2] v5: malformed shared filters are refused with SUBACK 0x8F', async () => {
  const { client } = await RawClient.connect(server.port, 5);
  const filters = ['$share/g', '$share//t', '$share/g+/t', '$share/g#/t', '$share/g/', '$share/g/a/#/b'];
  const suback = await client.subscribe([...filters.map((topic) => ({ topic, qos: 0 as const })), { topic: '$share/g/a/#', qos: 1 }]);
  assert.deepEqual(suback.granted, [...filters.map(() => ReasonCode.TopicFilterInvalid), 1]);
  await client.end();
});

test('[MQTT-3.8.3-4] v5: No Local on a shared subscription is a protocol error', async () => {
  const { client } = await RawClient.connect(server.port, 5);
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$share/g/${unique('nl')}`, qos: 1, nl: true }] });
  await assertServerClosed(client, ReasonCode.ProtocolError);
});

/**
 * A raw member that never acknowledges, beside an MQTT.js member that does: publishes `count`
 * QoS 1 messages and waits until the raw member holds its share of them unacknowledged.
 */
async function withholdingMember(topic: string, count: number, fields: Partial<IConnectPacket>) {
  const filter = `$share/hold/${topic}`;
  const { client: raw } = await RawClient.connect(server.port, 5, fields);
  await raw.subscribe([{ topic: filter, qos: 1 }]);
  const other = await ackingMember(filter);
  const pub = await connect(server.url, { protocolVersion: 5 });
  for (let i = 0; i < count; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
  const withheld: string[] = [];
  // Round robin: the raw member gets every other message.
  while (withheld.length < count / 2) withheld.push((await raw.next('publish')).payload.toString());
  await other.inbox.waitFor(count / 2);
  return { raw, other, pub, withheld };
}

async function ackingMember(filter: string): Promise<Member> {
  const client = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(client);
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, inbox };
}

test('[§4.8.2] v5: QoS 1 messages a member leaves unacknowledged when its connection drops go to another member', async () => {
  const topic = unique('handback');
  const { raw, other, pub, withheld } = await withholdingMember(topic, 10, { clean: true });
  const handedBack = server.broker.stats.sharedHandedBack;
  raw.destroy();
  const all = await other.inbox.waitFor(10);
  assert.equal(server.broker.stats.sharedHandedBack, handedBack + 5);
  assert.deepEqual(all.map((m) => m.payload.toString()).sort(), sent(10));
  assert.deepEqual(all.slice(5).map((m) => m.payload.toString()).sort(), [...withheld].sort());
  await end(other.client, pub);
});

test('[§4.8.2] v5: a persistent member that reconnects is not sent again what its group handed to another member', async () => {
  const topic = unique('handback-persistent');
  const clientId = unique('holder');
  const { raw, other, pub } = await withholdingMember(topic, 10, { clientId, clean: true, properties: { sessionExpiryInterval: 300 } });
  await raw.end();
  await other.inbox.waitFor(10);
  const { client: back, connack } = await RawClient.connect(server.port, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
  assert.equal(connack.sessionPresent, true);
  await pub.publishAsync(topic, 'after', { qos: 1 });
  await pub.publishAsync(topic, 'after-2', { qos: 1 });
  // The next PUBLISH the member sees is new traffic, not a resend of a handed-back message.
  const next = await back.next('publish');
  assert.match(next.payload.toString(), /^after/);
  assert.equal(next.dup, false);
  await back.end();
  await end(other.client, pub);
});
