// A shared member goes offline with QoS 2 messages queued, and its node hands them to another
// member; the node dies after the other member has one and before its own session write
// forgetting it lands. The stored session still queues that message: when the member returns
// it must not get it too (MQTT 5 §4.8.2: one member per message).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startNode, type NodeProcess } from '../helpers/cluster.ts';
import { connect, connectWithInbox, end, unique } from '../helpers/clients.ts';
import { startDelayProxy, type DelayProxy } from '../helpers/delay-proxy.ts';
import { completeNextQos2, RawClient } from '../helpers/raw-client.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

/** The leaving member's node reaches Redis this late (ms per chunk, each way): its last writes are cut off well inside it. */
const HOLDER_REDIS_DELAY = 60;
const MESSAGES = 4;

let redis: RedisServer;
let proxy: DelayProxy;
let holder: NodeProcess;
let other: NodeProcess;
let publisherNode: NodeProcess;

before(async () => {
  redis = await startRedis();
  proxy = await startDelayProxy(redis.url, HOLDER_REDIS_DELAY);
  const prefix = `${unique('handback-crash')}:`;
  holder = await startNode(proxy.url, prefix);
  other = await startNode(redis.url, prefix);
  publisherNode = await startNode(redis.url, prefix);
});

after(async () => {
  await Promise.all([holder, other, publisherNode].map((node) => node?.kill()));
  await proxy?.stop();
  await redis?.stop();
});

test('[MQTT-4.3.3-10] [§4.8.2] a QoS 2 message handed from a leaving member to another, its node killed before it forgot it: the member back on another node does not get it too', { timeout: 30_000 }, async () => {
  const topic = unique('handed');
  const filter = `$share/g/${topic}`;
  const clientId = unique('leaving');
  const fields = { clientId, clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: 1 } };
  const clients: MqttClient[] = [];
  try {
    // The only member at first, with a window of one it never acknowledges: one message in
    // flight, the rest queued in its session.
    const leaving = await RawClient.connect(holder.mqttPort, 5, fields);
    await leaving.client.subscribe([{ topic: filter, qos: 2 }]);
    const publisher = await connect(publisherNode.url, { protocolVersion: 5 });
    clients.push(publisher);
    for (let i = 1; i <= MESSAGES; i++) await publisher.publishAsync(topic, `m${i}`, { qos: 2 });
    const inFlight = await leaving.client.next('publish');

    // A second member; then the first leaves, and its node hands its queue to the second.
    const staying = await connectWithInbox(other.url, { protocolVersion: 5 });
    clients.push(staying.client);
    await staying.client.subscribeAsync(filter, { qos: 2 });
    leaving.client.destroy();
    await staying.inbox.until((m) => m.topic === topic, 10_000);
    // The moment the other member has one, the node dies with its writes still on the way.
    holder.child.kill('SIGKILL');
    proxy.sever();
    await holder.exited;

    // Back, on another node: its session as Redis has it.
    const back = await RawClient.connect(other.mqttPort, 5, { ...fields, properties: { sessionExpiryInterval: 300 } });
    assert.equal(back.connack.sessionPresent, true);
    const everyone = () => new Set([...staying.inbox.messages.map((m) => m.payload.toString()), ...gotBack]);
    const gotBack: string[] = [];
    while (everyone().size < MESSAGES) gotBack.push((await completeNextQos2(back.client)).payload.toString());
    const atBoth = gotBack.filter((payload) => staying.inbox.messages.some((m) => m.payload.toString() === payload));
    assert.deepEqual(atBoth, [], `reached both members: ${atBoth.join(', ')}`);
    assert.ok(gotBack.includes(inFlight.payload.toString()), 'the message in flight is completed with the member that had it');
    await back.client.end();
  } finally {
    await end(...clients);
  }
});
