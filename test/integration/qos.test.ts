// QoS 0/1/2 in both directions, exactly-once inbound, redelivery, ordering, flow control.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IConnectPacket, IPublishPacket } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { RawClient, assertServerClosed } from '../helpers/raw-client.ts';

let server: TestBroker;
let narrow: TestBroker;
let strictInbound: TestBroker;
before(async () => {
  server = await startBroker();
  narrow = await startBroker({ maxInflight: 2 });
  strictInbound = await startBroker({ receiveMaximum: 2 });
});
after(async () => {
  await Promise.all([server.stop(), narrow.stop(), strictInbound.stop()]);
});

function publishPacket(topic: string, payload: string, qos: 0 | 1 | 2, messageId?: number, dup = false): IPublishPacket {
  const packet: IPublishPacket = { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup };
  if (messageId !== undefined) packet.messageId = messageId;
  return packet;
}

/** CONNECT fields for a session that survives a dropped connection. */
function persistentFields(version: 4 | 5, clientId: string): Partial<IConnectPacket> {
  return version === 5 ? { clientId, clean: false, properties: { sessionExpiryInterval: 60 } } : { clientId, clean: false };
}

/**
 * A subscriber on `topic` and `topic/marker`, with its inbox. QoS 1: MQTT.js emits a QoS 2
 * message only at PUBREL, after a QoS 0 marker that arrived later; at QoS 1 it emits every
 * message in arrival order, so the marker proves what did not arrive.
 */
async function subscriber(url: string, version: 4 | 5, topic: string) {
  const client = await connect(url, { protocolVersion: version });
  const inbox = new Inbox(client);
  await client.subscribeAsync([topic, `${topic}/marker`], { qos: 1 });
  return { client, inbox };
}

/** Reads PUBLISH packets from a raw client up to and including the one on `topic`. */
async function publishesUntil(client: RawClient, topic: string): Promise<IPublishPacket[]> {
  const got: IPublishPacket[] = [];
  for (;;) {
    const publish = await client.next('publish');
    got.push(publish);
    if (publish.topic === topic) return got;
  }
}

for (const version of [4, 5] as const) {
  test(`[MQTT-4.3.1-1] v${version}: a QoS 0 message is delivered with QoS 0 and DUP 0`, async () => {
    const topic = unique('qos0');
    const { client: sub, inbox } = await subscriber(server.url, version, topic);
    const pub = await connect(server.url, { protocolVersion: version });
    await pub.publishAsync(topic, 'zero', { qos: 0 });
    const [message] = await inbox.waitFor(1);
    assert.deepEqual([message!.packet.qos, message!.packet.dup], [0, false]);
    await end(sub, pub);
  });

  test(`[MQTT-4.3.2-4] v${version}: a QoS 1 PUBLISH is answered with PUBACK carrying its packet id`, async () => {
    const { client } = await RawClient.connect(server.port, version);
    client.send(publishPacket(unique('qos1'), 'one', 1, 4242));
    const puback = await client.next('puback');
    assert.equal(puback.messageId, 4242);
    if (version === 5) assert.ok((puback.reasonCode ?? 0) < 0x80);
    await client.end();
  });

  test(`[MQTT-4.3.3-8] v${version}: a QoS 2 PUBLISH is answered with PUBREC carrying its packet id`, async () => {
    const { client } = await RawClient.connect(server.port, version);
    client.send(publishPacket(unique('qos2'), 'two', 2, 4343));
    const pubrec = await client.next('pubrec');
    assert.equal(pubrec.messageId, 4343);
    if (version === 5) assert.ok((pubrec.reasonCode ?? 0) < 0x80);
    await client.end();
  });

  test(`[MQTT-4.3.3-11] v${version}: PUBREL is answered with PUBCOMP carrying its packet id`, async () => {
    const { client } = await RawClient.connect(server.port, version);
    client.send(publishPacket(unique('qos2'), 'two', 2, 4444));
    await client.next('pubrec');
    client.send({ cmd: 'pubrel', messageId: 4444 });
    const pubcomp = await client.next('pubcomp');
    assert.equal(pubcomp.messageId, 4444);
    if (version === 5) assert.equal(pubcomp.reasonCode ?? 0, ReasonCode.Success);
    await client.end();
  });

  test(`[MQTT-4.3.3-10] v${version}: a QoS 2 PUBLISH resent before PUBREL gets PUBREC and is delivered once`, async () => {
    const topic = unique('exactly-once');
    const { client: sub, inbox } = await subscriber(server.url, version, topic);
    const { client: pub } = await RawClient.connect(server.port, version);
    pub.send(publishPacket(topic, 'once', 2, 7));
    assert.equal((await pub.next('pubrec')).messageId, 7);
    const skipped = server.broker.stats.duplicatesSkipped;
    pub.send(publishPacket(topic, 'once', 2, 7, true));
    assert.equal((await pub.next('pubrec')).messageId, 7);
    // The resend was routed again under the first one's message id; the subscriber's session skipped it.
    assert.equal(server.broker.stats.duplicatesSkipped, skipped + 1);
    pub.send({ cmd: 'pubrel', messageId: 7 });
    await pub.next('pubcomp');
    pub.send(publishPacket(`${topic}/marker`, 'marker', 0));
    const got = await inbox.untilTopic(`${topic}/marker`);
    assert.deepEqual(inbox.pairs(got), [[topic, 'once'], [`${topic}/marker`, 'marker']]);
    await pub.end();
    await end(sub);
  });

  test(`[MQTT-4.3.3-12] v${version}: after PUBCOMP a QoS 2 PUBLISH with the same packet id is a new message`, async () => {
    const topic = unique('qos2-reuse');
    const { client: sub, inbox } = await subscriber(server.url, version, topic);
    const { client: pub } = await RawClient.connect(server.port, version);
    for (const payload of ['first', 'second']) {
      pub.send(publishPacket(topic, payload, 2, 9));
      await pub.next('pubrec');
      pub.send({ cmd: 'pubrel', messageId: 9 });
      await pub.next('pubcomp');
    }
    assert.deepEqual(inbox.pairs(await inbox.waitFor(2)), [[topic, 'first'], [topic, 'second']]);
    await pub.end();
    await end(sub);
  });

  test(`[MQTT-4.3.2-5] v${version}: after PUBACK a QoS 1 PUBLISH with the same packet id is a new message`, async () => {
    const topic = unique('qos1-reuse');
    const { client: sub, inbox } = await subscriber(server.url, version, topic);
    const { client: pub } = await RawClient.connect(server.port, version);
    pub.send(publishPacket(topic, 'first', 1, 9));
    await pub.next('puback');
    pub.send(publishPacket(topic, 'second', 1, 9, true)); // DUP does not make it the same message
    await pub.next('puback');
    assert.deepEqual(inbox.pairs(await inbox.waitFor(2)), [[topic, 'first'], [topic, 'second']]);
    await pub.end();
    await end(sub);
  });

  test(`[MQTT-3.8.4-8] v${version}: messages are delivered at the lower of published and granted QoS`, async () => {
    const topic = unique('downgrade');
    const sub = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    const pub = await connect(server.url, { protocolVersion: version });
    for (const qos of [0, 1, 2] as const) await pub.publishAsync(topic, `q${qos}`, { qos });
    const got = await inbox.waitFor(3);
    assert.deepEqual(got.map((m) => [m.payload.toString(), m.packet.qos]), [['q0', 0], ['q1', 1], ['q2', 1]]);
    await end(sub, pub);
  });

  test(`[MQTT-4.3.2-2] v${version}: an outbound QoS 1 message is sent with QoS 1, DUP 0 and a non-zero packet id`, async () => {
    const topic = unique('outbound-qos1');
    const { client: sub } = await RawClient.connect(server.port, version);
    await sub.subscribe([{ topic, qos: 1 }]);
    const pub = await connect(server.url, { protocolVersion: version });
    await pub.publishAsync(topic, 'one', { qos: 1 });
    const publish = await sub.next('publish');
    assert.deepEqual([publish.qos, publish.dup, publish.payload.toString()], [1, false, 'one']);
    assert.ok(publish.messageId! > 0);
    sub.send({ cmd: 'puback', messageId: publish.messageId });
    await sub.end();
    await end(pub);
  });

  test(`[MQTT-4.3.3-4] v${version}: an outbound QoS 2 message gets PUBREL with its packet id after PUBREC`, async () => {
    const topic = unique('outbound-qos2');
    const { client: sub } = await RawClient.connect(server.port, version);
    await sub.subscribe([{ topic, qos: 2 }]);
    const pub = await connect(server.url, { protocolVersion: version });
    await pub.publishAsync(topic, 'two', { qos: 2 });
    const publish = await sub.next('publish');
    assert.deepEqual([publish.qos, publish.dup], [2, false]); // [MQTT-4.3.3-2]
    sub.send({ cmd: 'pubrec', messageId: publish.messageId });
    const pubrel = await sub.next('pubrel');
    assert.equal(pubrel.messageId, publish.messageId);
    sub.send({ cmd: 'pubcomp', messageId: publish.messageId });
    await sub.end();
    await end(pub);
  });

  test(`[MQTT-4.4.0-1] v${version}: unacknowledged messages are resent with DUP 1 and their packet ids when the session resumes`, async () => {
    const topic = unique('redeliver');
    const clientId = unique('redeliver');
    const { client: first } = await RawClient.connect(server.port, version, persistentFields(version, clientId));
    await first.subscribe([{ topic, qos: 1 }]);
    const pub = await connect(server.url, { protocolVersion: version });
    await pub.publishAsync(topic, 'a', { qos: 1 });
    await pub.publishAsync(topic, 'b', { qos: 1 });
    const original = [await first.next('publish'), await first.next('publish')];
    assert.deepEqual(original.map((p) => p.dup), [false, false]);
    first.destroy(); // no PUBACK

    const second = await RawClient.open(server.port, version);
    const connack = await second.connect(persistentFields(version, clientId));
    assert.equal(connack.sessionPresent, true);
    const resent = [await second.next('publish'), await second.next('publish')];
    assert.deepEqual(
      resent.map((p) => [p.payload.toString(), p.messageId, p.dup]),
      original.map((p) => [p.payload.toString(), p.messageId, true]),
    );
    for (const p of resent) second.send({ cmd: 'puback', messageId: p.messageId });
    await second.end();
    await end(pub);
  });

  test(`[MQTT-4.3.3-6] v${version}: once PUBREL was sent, resumption resends the PUBREL and not the PUBLISH`, async () => {
    const topic = unique('resend-pubrel');
    const clientId = unique('resend-pubrel');
    const { client: first } = await RawClient.connect(server.port, version, persistentFields(version, clientId));
    await first.subscribe([{ topic, qos: 2 }, { topic: `${topic}/marker`, qos: 0 }]);
    const pub = await connect(server.url, { protocolVersion: version });
    await pub.publishAsync(topic, 'two', { qos: 2 });
    const publish = await first.next('publish');
    first.send({ cmd: 'pubrec', messageId: publish.messageId });
    await first.next('pubrel');
    first.destroy(); // no PUBCOMP

    const second = await RawClient.open(server.port, version);
    await second.connect(persistentFields(version, clientId));
    assert.equal((await second.next('pubrel')).messageId, publish.messageId);
    await pub.publishAsync(`${topic}/marker`, 'marker', { qos: 0 });
    assert.deepEqual((await publishesUntil(second, `${topic}/marker`)).map((p) => p.topic), [`${topic}/marker`]);
    second.send({ cmd: 'pubcomp', messageId: publish.messageId });
    await second.end();
    await end(pub);
  });

  test(`[MQTT-4.6.0-5] v${version}: messages on one topic from one client are delivered in the order published`, async () => {
    const topic = unique('ordered');
    const sub = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    const pub = await connect(server.url, { protocolVersion: version });
    const payloads = Array.from({ length: 100 }, (_, i) => `m${i}`);
    await Promise.all(payloads.map((p) => pub.publishAsync(topic, p, { qos: 1 })));
    const got = await inbox.waitFor(payloads.length);
    assert.deepEqual(got.map((m) => m.payload.toString()), payloads);
    await end(sub, pub);
  });

  test(`[MQTT-4.9.0-2] v${version}: no more QoS 1/2 messages are in flight than the window (limits.maxInflight)`, async () => {
    await assertWindow(narrow, version, 2, {});
  });
}

test('[MQTT-3.3.4-9] v5: no more QoS 1/2 messages are in flight than the client\'s Receive Maximum', async () => {
  await assertWindow(server, 5, 3, { properties: { receiveMaximum: 3 } });
});

/**
 * Publishes `window + 3` QoS 1 messages to a subscriber that does not acknowledge, and checks
 * that exactly `window` arrive, and one more for each PUBACK. QoS 0 markers are outside the
 * window, so they prove what did not arrive.
 */
async function assertWindow(broker: TestBroker, version: 4 | 5, window: number, fields: Partial<IConnectPacket>): Promise<void> {
  const topic = unique('window');
  const { client: sub } = await RawClient.connect(broker.port, version, fields);
  await sub.subscribe([{ topic, qos: 1 }, { topic: `${topic}/marker`, qos: 0 }]);
  const pub = await connect(broker.url, { protocolVersion: version });
  const count = window + 3;
  for (let i = 1; i <= count; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
  await pub.publishAsync(`${topic}/marker`, 'first', { qos: 0 });
  const firstBatch = await publishesUntil(sub, `${topic}/marker`);
  const payloads = (batch: IPublishPacket[]) => batch.filter((p) => p.topic === topic).map((p) => p.payload.toString());
  assert.deepEqual(payloads(firstBatch), Array.from({ length: window }, (_, i) => `m${i + 1}`));

  sub.send({ cmd: 'puback', messageId: firstBatch[0]!.messageId });
  const next = await sub.next('publish');
  assert.equal(next.payload.toString(), `m${window + 1}`);
  await pub.publishAsync(`${topic}/marker`, 'second', { qos: 0 });
  assert.deepEqual(payloads(await publishesUntil(sub, `${topic}/marker`)), []);
  await sub.end();
  await end(pub);
}

test('[MQTT-3.3.4-9] v5: a resumed session resends no more unacknowledged messages than the new Receive Maximum', async () => {
  const topic = unique('resume-window');
  const clientId = unique('resume-window');
  const fields = (receiveMaximum: number): Partial<IConnectPacket> => ({
    ...persistentFields(5, clientId),
    properties: { sessionExpiryInterval: 60, receiveMaximum },
  });
  const { client: first } = await RawClient.connect(server.port, 5, fields(3));
  await first.subscribe([{ topic, qos: 1 }, { topic: `${topic}/marker`, qos: 0 }]);
  const pub = await connect(server.url, { protocolVersion: 5 });
  for (const payload of ['a', 'b', 'c']) await pub.publishAsync(topic, payload, { qos: 1 });
  const original = [await first.next('publish'), await first.next('publish'), await first.next('publish')];
  first.destroy(); // none acknowledged

  const second = await RawClient.open(server.port, 5);
  await second.connect(fields(1));
  await pub.publishAsync(`${topic}/marker`, 'first', { qos: 0 });
  const firstBatch = await publishesUntil(second, `${topic}/marker`);
  assert.deepEqual(firstBatch.map((p) => [p.payload.toString(), p.dup]), [['a', true], ['first', false]]);
  // Each PUBACK lets exactly the next one through, with its original packet id.
  for (const [index, payload] of ['b', 'c'].entries()) {
    second.send({ cmd: 'puback', messageId: original[index]!.messageId });
    await pub.publishAsync(`${topic}/marker`, `after ${index}`, { qos: 0 });
    const batch = await publishesUntil(second, `${topic}/marker`);
    assert.deepEqual(
      batch.map((p) => [p.payload.toString(), p.messageId, p.dup]),
      [[payload, original[index + 1]!.messageId, true], [`after ${index}`, undefined, false]],
    );
  }
  await second.end();
  await end(pub);
});

test('[MQTT-3.3.4-10] v5: a full window does not hold back packets other than PUBLISH', async () => {
  const topic = unique('window-full');
  const { client: sub } = await RawClient.connect(server.port, 5, { properties: { receiveMaximum: 1 } });
  await sub.subscribe([{ topic, qos: 1 }]);
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, 'm1', { qos: 1 });
  await pub.publishAsync(topic, 'm2', { qos: 1 });
  await sub.next('publish'); // the window is now full
  await sub.subscribe([{ topic: `${topic}/other`, qos: 1 }]);
  sub.send({ cmd: 'pingreq' });
  await sub.next('pingresp');
  await sub.end();
  await end(pub);
});

test('[MQTT-4.4.0-2] v5: a message refused by PUBACK 0x80 or above is not resent', async () => {
  const topic = unique('refused');
  const clientId = unique('refused');
  const { client: first } = await RawClient.connect(server.port, 5, persistentFields(5, clientId));
  await first.subscribe([{ topic, qos: 1 }, { topic: `${topic}/marker`, qos: 0 }]);
  const pub = await connect(server.url, { protocolVersion: 5 });
  await pub.publishAsync(topic, 'refused', { qos: 1 });
  const publish = await first.next('publish');
  first.send({ cmd: 'puback', messageId: publish.messageId, reasonCode: ReasonCode.UnspecifiedError });
  await first.subscribe([{ topic: `${topic}/sync`, qos: 0 }]); // the PUBACK was processed before this SUBACK
  first.destroy();

  const second = await RawClient.open(server.port, 5);
  await second.connect(persistentFields(5, clientId));
  await pub.publishAsync(`${topic}/marker`, 'marker', { qos: 0 });
  assert.deepEqual((await publishesUntil(second, `${topic}/marker`)).map((p) => p.topic), [`${topic}/marker`]);
  await second.end();
  await end(pub);
});

test('[MQTT-3.3.4-7] v5: more unreleased QoS 2 PUBLISHes than the server\'s Receive Maximum get DISCONNECT 0x93', async () => {
  const { client, connack } = await RawClient.connect(strictInbound.port, 5);
  assert.equal(connack.properties?.receiveMaximum, 2);
  const topic = unique('inbound-window');
  for (const id of [1, 2]) {
    client.send(publishPacket(topic, `m${id}`, 2, id));
    await client.next('pubrec');
  }
  client.send(publishPacket(topic, 'm3', 2, 3));
  await assertServerClosed(client, ReasonCode.ReceiveMaximumExceeded);
});
