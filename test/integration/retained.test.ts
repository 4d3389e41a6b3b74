// Retained messages: store, replace, clear, retain flag on delivery, retain handling, expiry.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { IClientSubscribeOptions, IClientPublishOptions } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, end, Inbox, unique, type Received } from '../helpers/clients.ts';
import { RawClient } from '../helpers/raw-client.ts';

let server: TestBroker;
before(async () => (server = await startBroker()));
after(() => server.stop());

async function publishAll(version: 4 | 5, messages: Array<[string, string, IClientPublishOptions]>): Promise<void> {
  const publisher = await connect(server.url, { protocolVersion: version });
  for (const [topic, payload, options] of messages) await publisher.publishAsync(topic, payload, { qos: 1, ...options });
  await end(publisher);
}

/**
 * Subscribes a new client to `filter` and returns what it got before a marker published
 * after the SUBACK: retained messages are sent right behind the SUBACK, so before the marker.
 */
async function newSubscriber(version: 4 | 5, filter: string, options: Partial<IClientSubscribeOptions> = {}): Promise<Received[]> {
  const client = await connect(server.url, { protocolVersion: version });
  const inbox = new Inbox(client);
  const marker = `${filter.replace(/[+#]/g, '_')}/marker`;
  await client.subscribeAsync(filter, { qos: 1, ...options });
  await client.subscribeAsync(marker, { qos: 1 });
  await client.publishAsync(marker, 'marker', { qos: 1 });
  const got = await inbox.untilTopic(marker);
  await end(client);
  return got.filter((m) => m.topic !== marker);
}

for (const version of [4, 5] as const) {
  test(`[MQTT-3.3.1-5] v${version}: a retained message is stored and sent with RETAIN 1 to a later matching subscription`, async () => {
    const prefix = unique('retained');
    await publishAll(version, [
      [`${prefix}/a/x`, 'a', { retain: true }],
      [`${prefix}/b/x`, 'b', { retain: true }],
    ]);
    const got = await newSubscriber(version, `${prefix}/+/x`);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString(), m.packet.retain]).sort(),
      [[`${prefix}/a/x`, 'a', true], [`${prefix}/b/x`, 'b', true]],
    );
  });

  test(`[MQTT-3.3.1-5] v${version}: a retained PUBLISH replaces the stored message for its topic`, async () => {
    const topic = unique('replace');
    await publishAll(version, [
      [topic, 'first', { retain: true }],
      [topic, 'second', { retain: true }],
    ]);
    const got = await newSubscriber(version, topic);
    assert.deepEqual(got.map((m) => m.payload.toString()), ['second']);
  });

  test(`[MQTT-3.3.1-6] v${version}: an empty retained PUBLISH is delivered normally and removes the retained message`, async () => {
    const topic = unique('clear');
    const live = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(live);
    await live.subscribeAsync(topic, { qos: 1 });
    await publishAll(version, [
      [topic, 'kept', { retain: true }],
      [topic, '', { retain: true }],
    ]);
    assert.deepEqual(inbox.pairs(await inbox.waitFor(2)), [[topic, 'kept'], [topic, '']]);
    assert.deepEqual(await newSubscriber(version, topic), []);
    await end(live);
  });

  test(`[MQTT-3.3.1-7] v${version}: an empty retained PUBLISH is not stored as a retained message`, async () => {
    const topic = unique('empty');
    await publishAll(version, [[topic, '', { retain: true }]]);
    assert.deepEqual(await newSubscriber(version, topic), []);
  });

  test(`[MQTT-3.3.1-8] v${version}: a PUBLISH with RETAIN 0 neither stores nor replaces the retained message`, async () => {
    const topic = unique('not-retained');
    await publishAll(version, [
      [topic, 'retained', { retain: true }],
      [topic, 'transient', { retain: false }],
    ]);
    const got = await newSubscriber(version, topic);
    assert.deepEqual(got.map((m) => m.payload.toString()), ['retained']);
  });

  test(`[MQTT-3.3.1-12] v${version}: a retained message forwarded to an existing subscription has RETAIN 0`, async () => {
    const topic = unique('forwarded');
    const sub = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    await publishAll(version, [[topic, 'live', { retain: true }]]);
    const [message] = await inbox.waitFor(1);
    assert.equal(message!.packet.retain, false);
    await end(sub);
  });
}

test('[MQTT-3.3.1-13] v5: with Retain As Published the forwarded RETAIN flag equals the published one', async () => {
  const topic = unique('rap');
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(topic, { qos: 1, rap: true });
  await publishAll(5, [
    [topic, 'retained', { retain: true }],
    [topic, 'plain', { retain: false }],
  ]);
  const got = await inbox.waitFor(2);
  assert.deepEqual(got.map((m) => [m.payload.toString(), m.packet.retain]), [['retained', true], ['plain', false]]);
  await end(sub);
});

test('[MQTT-3.3.1-9] [MQTT-3.8.4-4] v5: Retain Handling 0 sends the retained messages on every SUBSCRIBE', async () => {
  const topic = unique('rh0');
  await publishAll(5, [[topic, 'retained', { retain: true }]]);
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(topic, { qos: 1, rh: 0 });
  await inbox.waitFor(1);
  await sub.subscribeAsync(topic, { qos: 1, rh: 0 });
  const got = await inbox.waitFor(2);
  assert.deepEqual(got.map((m) => [m.payload.toString(), m.packet.retain]), [['retained', true], ['retained', true]]);
  await end(sub);
});

test('[MQTT-3.3.1-10] v5: Retain Handling 1 sends the retained messages only for a new subscription', async () => {
  const topic = unique('rh1');
  await publishAll(5, [[topic, 'retained', { retain: true }]]);
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync([topic, `${topic}/marker`], { qos: 1, rh: 1 });
  await inbox.waitFor(1);
  await sub.subscribeAsync(topic, { qos: 1, rh: 1 }); // exists already: no retained message
  await sub.publishAsync(`${topic}/marker`, 'marker', { qos: 1 });
  assert.deepEqual(inbox.pairs(await inbox.untilTopic(`${topic}/marker`)), [[topic, 'retained'], [`${topic}/marker`, 'marker']]);
  await end(sub);
});

test('[MQTT-3.3.1-11] v5: Retain Handling 2 never sends the retained messages', async () => {
  const topic = unique('rh2');
  await publishAll(5, [[topic, 'retained', { retain: true }]]);
  assert.deepEqual(await newSubscriber(5, topic, { rh: 2 }), []);
});

describe('retained message expiry', { concurrency: true }, () => {
  test('[MQTT-3.3.2-5] v5: a retained message whose Message Expiry Interval has passed is not sent', async () => {
    const prefix = unique('retained-expiry');
    await publishAll(5, [
      [`${prefix}/short`, 'expires', { retain: true, properties: { messageExpiryInterval: 1 } }],
      [`${prefix}/forever`, 'stays', { retain: true }],
    ]);
    await delay(1100); // the elapsed time is the behaviour under test
    const got = await newSubscriber(5, `${prefix}/+`);
    assert.deepEqual(pairsOf(got), [[`${prefix}/forever`, 'stays']]);
  });

  test('[MQTT-3.3.2-6] v5: a retained message is sent with its Message Expiry Interval less the time it was stored', async () => {
    const topic = unique('retained-remaining');
    await publishAll(5, [[topic, 'ageing', { retain: true, properties: { messageExpiryInterval: 10 } }]]);
    await delay(1100); // the elapsed time is the behaviour under test
    const [message] = await newSubscriber(5, topic);
    const remaining = message!.packet.properties?.messageExpiryInterval;
    assert.ok(remaining !== undefined && remaining >= 8 && remaining <= 9, `remaining ${remaining}`);
  });
});

function pairsOf(messages: Received[]): Array<[string, string]> {
  return messages.map((m) => [m.topic, m.payload.toString()]);
}

test('[MQTT-3.3.1-6] every retained message reaches a new QoS 0 subscriber that reads slowly: the replay waits for the socket, nothing is dropped', async () => {
  const prefix = unique('replay');
  const count = 400;
  const payload = Buffer.alloc(20_000, 1); // 8 MB in all: twice the QoS 0 backlog limit
  const publisher = await connect(server.url, { protocolVersion: 4 });
  for (let i = 0; i < count; i++) publisher.publish(`${prefix}/${i}`, payload, { qos: 0, retain: true });
  await publisher.publishAsync(`${prefix}/last`, payload, { qos: 1, retain: true });
  await end(publisher);

  const { client } = await RawClient.connect(server.port, 4);
  client.socket.pause(); // read nothing while the broker replays
  const sentBefore = server.broker.stats.messagesSent;
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${prefix}/#`, qos: 0 }] });
  // The replay stalls on the unread socket: poll the broker's count of PUBLISHes written until it stops moving.
  let previous = -1;
  while (server.broker.stats.messagesSent !== previous) {
    previous = server.broker.stats.messagesSent;
    await delay(100);
  }
  assert.ok(previous - sentBefore < count, 'the replay waited for the reader');
  client.socket.resume();
  const topics = new Set<string>();
  while (topics.size < count + 1) topics.add((await client.next('publish')).topic);
  await client.end();
});
