// SUBSCRIBE/UNSUBSCRIBE, topic name and filter validation, wildcard matching.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { ReasonCode, SubackFailureV3 } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { RawClient, assertServerClosed } from '../helpers/raw-client.ts';

let server: TestBroker;
before(async () => (server = await startBroker()));
after(() => server.stop());

function failureCode(version: 4 | 5): number {
  return version === 5 ? ReasonCode.TopicFilterInvalid : SubackFailureV3;
}

/**
 * Subscribes one client to `filters`, publishes `topics` (each payload is its topic) and then
 * a marker, and returns the topics that arrived before the marker.
 */
async function topicsReceived(version: 4 | 5, prefix: string, filters: string[], topics: string[]): Promise<string[]> {
  const sub = await connect(server.url, { protocolVersion: version });
  const inbox = new Inbox(sub);
  const marker = `${prefix}/marker`;
  await sub.subscribeAsync([...filters, marker], { qos: 1 });
  const pub = await connect(server.url, { protocolVersion: version });
  for (const topic of [...topics, marker]) await pub.publishAsync(topic, topic, { qos: 1 });
  const got = await inbox.untilTopic(marker);
  await end(sub, pub);
  return got.map((m) => m.topic).filter((t) => t !== marker);
}

/**
 * Publishes a marker and returns what `sub` got up to it. The marker goes at QoS 2: MQTT.js
 * emits QoS 2 messages at PUBREL, so only a QoS 2 marker comes after every earlier message.
 */
async function markerOnly(sub: MqttClient, inbox: Inbox, pub: MqttClient, topic: string): Promise<Array<[string, string]>> {
  await sub.subscribeAsync(`${topic}/marker`, { qos: 2 });
  await pub.publishAsync(`${topic}/marker`, 'marker', { qos: 2 });
  return inbox.pairs(await inbox.untilTopic(`${topic}/marker`));
}

for (const version of [4, 5] as const) {
  test(`[MQTT-3.8.4-1] [MQTT-3.8.4-2] v${version}: SUBSCRIBE is answered with SUBACK carrying its packet id`, async () => {
    const { client } = await RawClient.connect(server.port, version);
    client.send({ cmd: 'subscribe', messageId: 321, subscriptions: [{ topic: unique('suback'), qos: 1 }] });
    const suback = await client.next('suback');
    assert.equal(suback.messageId, 321);
    assert.deepEqual(suback.granted, [1]);
    await client.end();
  });

  test(`[MQTT-3.8.4-6] [MQTT-3.9.3-1] v${version}: SUBACK has one code per filter, in the order of the filters`, async () => {
    const prefix = unique('codes');
    const { client } = await RawClient.connect(server.port, version);
    const suback = await client.subscribe([
      { topic: `${prefix}/#`, qos: 2 },
      { topic: `${prefix}/#/x`, qos: 1 },
      { topic: `${prefix}/c`, qos: 0 },
      { topic: `${prefix}/d`, qos: 1 },
    ]);
    assert.deepEqual(suback.granted, [2, failureCode(version), 0, 1]);
    await client.end();
  });

  test(`[MQTT-4.7.1-1] v${version}: a filter with '#' not alone in the last level is refused in SUBACK`, async () => {
    const { client } = await RawClient.connect(server.port, version);
    const filters = ['a/#/b', 'a#', 'a/b#', '#/a'];
    const suback = await client.subscribe(filters.map((topic) => ({ topic, qos: 0 as const })));
    assert.deepEqual(suback.granted, filters.map(() => failureCode(version)));
    await client.end();
  });

  test(`[MQTT-4.7.1-2] v${version}: a filter with '+' not alone in its level is refused in SUBACK`, async () => {
    const { client } = await RawClient.connect(server.port, version);
    const filters = ['a+/b', 'a/+b', '+a', 'a/b+'];
    const suback = await client.subscribe(filters.map((topic) => ({ topic, qos: 0 as const })));
    assert.deepEqual(suback.granted, filters.map(() => failureCode(version)));
    await client.end();
  });

  test(`[MQTT-4.7.3-1] v${version}: an empty topic filter is refused in SUBACK`, async () => {
    const { client } = await RawClient.connect(server.port, version);
    const suback = await client.subscribe([{ topic: '', qos: 0 }]);
    assert.deepEqual(suback.granted, [failureCode(version)]);
    await client.end();
  });

  for (const topic of ['wild/+', 'wild/#']) {
    test(`[MQTT-3.3.2-2] v${version}: a PUBLISH to '${topic}' closes the connection (v5: DISCONNECT 0x90)`, async () => {
      const { client } = await RawClient.connect(server.port, version);
      client.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
      await assertServerClosed(client, ReasonCode.TopicNameInvalid);
    });
  }

  test(`[MQTT-4.7.3-1] v${version}: a PUBLISH with an empty topic name and no alias closes the connection (v5: DISCONNECT 0x82)`, async () => {
    const { client } = await RawClient.connect(server.port, version);
    client.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    await assertServerClosed(client, ReasonCode.ProtocolError);
  });

  test(`[MQTT-4.7.1-1] v${version}: '#' matches the parent level and any number of child levels`, async () => {
    const p = unique('hash');
    const got = await topicsReceived(version, p, [`${p}/a/#`], [`${p}/a`, `${p}/a/b`, `${p}/a/b/c`, `${p}/b`, `${p}/ab`, `${p}/a/`]);
    assert.deepEqual(got, [`${p}/a`, `${p}/a/b`, `${p}/a/b/c`, `${p}/a/`]);
  });

  test(`[MQTT-4.7.1-2] v${version}: '+' matches exactly one level, empty levels included`, async () => {
    const p = unique('plus');
    const got = await topicsReceived(version, p, [`${p}/+/x`, `${p}/y/+`], [`${p}/a/x`, `${p}/a/b/x`, `${p}/x`, `${p}//x`, `${p}/y/`, `${p}/y`]);
    assert.deepEqual(got, [`${p}/a/x`, `${p}//x`, `${p}/y/`]);
  });

  test(`[MQTT-4.7.3-4] v${version}: matching does not normalise topics: case and spaces count`, async () => {
    const p = unique('exact');
    const got = await topicsReceived(version, p, [`${p}/Case/x`], [`${p}/case/x`, `${p}/Case /x`, `${p}/Case/x/`, `${p}/Case/x`]);
    assert.deepEqual(got, [`${p}/Case/x`]);
  });

  test(`[MQTT-3.8.4-3] v${version}: a SUBSCRIBE with an identical filter replaces the subscription`, async () => {
    const topic = unique('replace-sub');
    const sub = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 0 });
    await sub.subscribeAsync(topic, { qos: 1 });
    const pub = await connect(server.url, { protocolVersion: version });
    await pub.publishAsync(topic, 'once', { qos: 1 });
    const got = await markerOnly(sub, inbox, pub, topic);
    assert.deepEqual(got, [[topic, 'once'], [`${topic}/marker`, 'marker']]);
    assert.equal(inbox.messages[0]!.packet.qos, 1);
    await end(sub, pub);
  });

  test(`[MQTT-3.3.4-2] v${version}: overlapping subscriptions deliver one message at the highest granted QoS`, async () => {
    const prefix = unique('overlap');
    const sub = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync({ [`${prefix}/+`]: { qos: 0 }, [`${prefix}/#`]: { qos: 2 } });
    const pub = await connect(server.url, { protocolVersion: version });
    await pub.publishAsync(`${prefix}/x`, 'both match', { qos: 2 });
    const got = await markerOnly(sub, inbox, pub, prefix);
    assert.deepEqual(got, [[`${prefix}/x`, 'both match'], [`${prefix}/marker`, 'marker']]);
    assert.equal(inbox.messages[0]!.packet.qos, 2);
    await end(sub, pub);
  });

  test(`[MQTT-3.10.4-2] v${version}: after UNSUBSCRIBE no new messages for the filter are sent`, async () => {
    const topic = unique('unsub');
    const sub = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    await sub.unsubscribeAsync(topic);
    const pub = await connect(server.url, { protocolVersion: version });
    await pub.publishAsync(topic, 'after unsubscribe', { qos: 1 });
    assert.deepEqual(await markerOnly(sub, inbox, pub, topic), [[`${topic}/marker`, 'marker']]);
    await end(sub, pub);
  });

  test(`[MQTT-3.10.4-1] v${version}: UNSUBSCRIBE removes only a subscription whose filter is identical`, async () => {
    const prefix = unique('unsub-exact');
    const sub = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(`${prefix}/#`, { qos: 1 });
    await sub.unsubscribeAsync(`${prefix}/+`); // matches the same topics, but is a different filter
    const pub = await connect(server.url, { protocolVersion: version });
    await pub.publishAsync(`${prefix}/x`, 'still subscribed', { qos: 1 });
    const got = await markerOnly(sub, inbox, pub, prefix);
    assert.deepEqual(got, [[`${prefix}/x`, 'still subscribed'], [`${prefix}/marker`, 'marker']]);
    await end(sub, pub);
  });

  test(`[MQTT-3.10.4-4] [MQTT-3.10.4-5] v${version}: UNSUBACK carries the packet id, even when nothing was subscribed`, async () => {
    const prefix = unique('unsuback');
    const { client } = await RawClient.connect(server.port, version);
    await client.subscribe([{ topic: `${prefix}/a`, qos: 1 }]);
    client.send({ cmd: 'unsubscribe', messageId: 654, unsubscriptions: [`${prefix}/a`, `${prefix}/never`] });
    const unsuback = await client.next('unsuback');
    assert.equal(unsuback.messageId, 654);
    // [MQTT-3.11.3-1] v5: one reason code per filter, in order.
    if (version === 5) assert.deepEqual(unsuback.granted, [ReasonCode.Success, ReasonCode.NoSubscriptionExisted]);
    await client.end();
  });
}
