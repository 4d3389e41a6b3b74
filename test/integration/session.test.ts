// Sessions: clean start, session present, expiry, offline queues.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import { ReasonCode } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connackOf, connect, connectWithInbox, drop, end, Inbox, unique } from '../helpers/clients.ts';
import { RawClient } from '../helpers/raw-client.ts';

let server: TestBroker;
let dropOldest: TestBroker;
let dropNewest: TestBroker;
before(async () => {
  server = await startBroker();
  dropOldest = await startBroker({ maxQueuedMessages: 3, queueOverflow: 'drop-oldest' });
  dropNewest = await startBroker({ maxQueuedMessages: 3, queueOverflow: 'drop-newest' });
});
after(async () => {
  await Promise.all([server.stop(), dropOldest.stop(), dropNewest.stop()]);
});

/** Options for a session that outlives its connection: clean session 0 (v3), expiry 60 s (v5). */
function persistent(version: 4 | 5, clientId: string): IClientOptions {
  return version === 5
    ? { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 60 } }
    : { protocolVersion: 4, clientId, clean: false };
}

async function publish(url: string, version: 4 | 5, messages: Array<[string, string, 0 | 1 | 2]>): Promise<void> {
  const publisher = await connect(url, { protocolVersion: version });
  for (const [topic, payload, qos] of messages) await publisher.publishAsync(topic, payload, { qos });
  await end(publisher);
}

for (const version of [4, 5] as const) {
  test(`[MQTT-3.2.2-2] v${version}: a connection with clean start 1 gets session present 0, even if a session existed`, async () => {
    const clientId = unique('clean');
    const first = await connect(server.url, persistent(version, clientId));
    await first.subscribeAsync(unique('clean/topic'), { qos: 1 });
    await end(first);
    const second = await connect(server.url, { protocolVersion: version, clientId, clean: true });
    assert.equal(connackOf(second).sessionPresent, false);
    await end(second);
  });

  test(`[MQTT-3.2.2-3] v${version}: clean start 0 gets session present 1 only when a session is stored`, async () => {
    const clientId = unique('present');
    const first = await connect(server.url, persistent(version, clientId));
    assert.equal(connackOf(first).sessionPresent, false);
    await end(first);
    const second = await connect(server.url, persistent(version, clientId));
    assert.equal(connackOf(second).sessionPresent, true);
    await end(second);
  });

  test(`[MQTT-3.1.2-4] v${version}: clean start 1 discards the stored session and its subscriptions`, async () => {
    const clientId = unique('discard');
    const topic = unique('discard/topic');
    const first = await connect(server.url, persistent(version, clientId));
    await first.subscribeAsync(topic, { qos: 1 });
    await end(first);
    const second = await connect(server.url, { protocolVersion: version, clientId, clean: true });
    const inbox = new Inbox(second);
    await second.subscribeAsync(`${topic}/marker`, { qos: 1 });
    await publish(server.url, version, [[topic, 'old subscription', 1], [`${topic}/marker`, 'marker', 1]]);
    assert.deepEqual(inbox.pairs(await inbox.untilTopic(`${topic}/marker`)), [[`${topic}/marker`, 'marker']]);
    await end(second);
  });

  test(`[MQTT-3.1.2-5] v${version}: clean start 0 resumes the stored session with its subscriptions`, async () => {
    const clientId = unique('resume');
    const topic = unique('resume/topic');
    const first = await connect(server.url, persistent(version, clientId));
    await first.subscribeAsync(topic, { qos: 1 });
    await end(first);
    const second = await connect(server.url, persistent(version, clientId));
    const inbox = new Inbox(second);
    await publish(server.url, version, [[topic, 'still subscribed', 1]]);
    assert.deepEqual(inbox.pairs(await inbox.waitFor(1)), [[topic, 'still subscribed']]);
    await end(second);
  });

  test(`[MQTT-3.1.2-23] v${version}: QoS 1 and 2 messages published while the client is offline are delivered when it returns`, async () => {
    const clientId = unique('offline');
    const topic = unique('offline/topic');
    const first = await connect(server.url, persistent(version, clientId));
    await first.subscribeAsync(topic, { qos: 2 });
    await end(first);
    await publish(server.url, version, [[topic, 'one', 1], [topic, 'two', 2]]);
    const { client: second, inbox } = await connectWithInbox(server.url, persistent(version, clientId));
    const got = await inbox.waitFor(2);
    assert.deepEqual(got.map((m) => [m.payload.toString(), m.packet.qos]), [['one', 1], ['two', 2]]);
    await end(second);
  });

  for (const [policy, expected] of [
    ['drop-oldest', ['m3', 'm4', 'm5']],
    ['drop-newest', ['m1', 'm2', 'm3']],
  ] as const) {
    test(`[§4.1] v${version}: an offline session queues at most maxQueuedMessages, then applies ${policy}`, async () => {
      const broker = policy === 'drop-oldest' ? dropOldest : dropNewest;
      const clientId = unique('bounded');
      const topic = unique('bounded/topic');
      const first = await connect(broker.url, persistent(version, clientId));
      await first.subscribeAsync([topic, `${topic}/marker`], { qos: 1 });
      await end(first);
      await publish(broker.url, version, ['m1', 'm2', 'm3', 'm4', 'm5'].map((p) => [topic, p, 1] as [string, string, 1]));
      const { client: second, inbox } = await connectWithInbox(broker.url, persistent(version, clientId));
      await publish(broker.url, version, [[`${topic}/marker`, 'marker', 1]]);
      const got = await inbox.untilTopic(`${topic}/marker`);
      assert.deepEqual(got.map((m) => m.payload.toString()), [...expected, 'marker']);
      await end(second);
    });
  }
}

test('[MQTT-4.1.0-2] v5: a session with Session Expiry Interval 0 ends when the connection closes', async () => {
  const clientId = unique('expiry-0');
  const first = await connect(server.url, { protocolVersion: 5, clientId, clean: false });
  await first.subscribeAsync(unique('expiry-0/topic'), { qos: 1 });
  await end(first);
  const second = await connect(server.url, { protocolVersion: 5, clientId, clean: false });
  assert.equal(connackOf(second).sessionPresent, false);
  await end(second);
});

test('[MQTT-4.1.0-2] v5: the session is discarded once its Session Expiry Interval has passed', async () => {
  const clientId = unique('expiry-1');
  const willTopic = unique('expiry-1/ended');
  // A will delayed past the expiry is published when the session ends: the signal to await.
  const watcher = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(watcher);
  await watcher.subscribeAsync(willTopic, { qos: 1 });
  const first = await connect(server.url, {
    protocolVersion: 5,
    clientId,
    clean: false,
    properties: { sessionExpiryInterval: 1 },
    will: { topic: willTopic, payload: Buffer.from('session ended'), qos: 1, retain: false, properties: { willDelayInterval: 60 } },
  });
  await first.subscribeAsync(unique('expiry-1/topic'), { qos: 1 });
  const dropped = Date.now();
  drop(first);
  await inbox.waitFor(1, 4000);
  assert.ok(Date.now() - dropped >= 950, 'not before the interval');
  const second = await connect(server.url, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 1 } });
  assert.equal(connackOf(second).sessionPresent, false);
  await end(first, second, watcher);
});

test('[§3.14.2.2.2] v5: a Session Expiry Interval on DISCONNECT replaces the one from CONNECT', async () => {
  const clientId = unique('expiry-on-disconnect');
  const first = await connect(server.url, persistent(5, clientId));
  await first.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
  const second = await connect(server.url, persistent(5, clientId));
  assert.equal(connackOf(second).sessionPresent, false);
  await end(second);
});

test('[MQTT-4.13.1-1] v5: a non-zero Session Expiry Interval on DISCONNECT after 0 on CONNECT is a protocol error', async () => {
  const clientId = unique('expiry-violation');
  const willTopic = unique('expiry-violation/will');
  const watcher = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(watcher);
  await watcher.subscribeAsync(willTopic, { qos: 1 });
  const { client } = await RawClient.connect(server.port, 5, {
    clientId,
    clean: false,
    will: { topic: willTopic, payload: Buffer.from('not a valid DISCONNECT'), qos: 0, retain: false },
  });
  client.send({ cmd: 'disconnect', reasonCode: ReasonCode.NormalDisconnection, properties: { sessionExpiryInterval: 30 } });
  const disconnect = await client.next('disconnect');
  assert.equal(disconnect.reasonCode, ReasonCode.ProtocolError);
  await client.waitClosed();
  // Not a valid DISCONNECT: the will goes out and the session is not extended.
  assert.equal((await inbox.waitFor(1))[0]!.payload.toString(), 'not a valid DISCONNECT');
  const again = await connect(server.url, { protocolVersion: 5, clientId, clean: false });
  assert.equal(connackOf(again).sessionPresent, false);
  await end(watcher, again);
});
