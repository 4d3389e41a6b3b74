// Per-client limits in cluster mode, on two edge processes sharing one Redis: the subscription
// quota belongs to the session and follows it to another node; the publish rate holds a
// client to it on the node it is connected to, seen by a subscriber on the other node. Both
// are read back from each node's /metrics, as settings through to counters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import { startCluster, untilRouted, type TestCluster } from '../helpers/cluster.ts';
import { connect, connectWithInbox, end, unique } from '../helpers/clients.ts';
import { Scrape } from '../helpers/metrics.ts';
import { RawClient } from '../helpers/raw-client.ts';

const RATE = 50;
let cluster: TestCluster;

before(async () => {
  cluster = await startCluster(2, { env: { ROOST_MAX_SUBSCRIPTIONS: '2', ROOST_MAX_PUBLISH_RATE: String(RATE), ROOST_PUBLISH_THROTTLE_SECONDS: '0' } });
});

after(async () => {
  await cluster?.stop();
});

test('cluster: the subscription quota is the session\'s, and follows it to another node', async () => {
  const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
  const clientId = unique('quota');
  const first = await RawClient.connect(a.mqttPort, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
  assert.deepEqual((await first.client.subscribe([{ topic: 'cq/1', qos: 1 }, { topic: 'cq/2', qos: 1 }, { topic: 'cq/3', qos: 1 }])).granted, [1, 1, ReasonCode.QuotaExceeded]);
  await first.client.end();
  const resumed = await RawClient.connect(b.mqttPort, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
  assert.equal(resumed.connack.sessionPresent, true);
  assert.deepEqual((await resumed.client.subscribe([{ topic: 'cq/4', qos: 1 }])).granted, [ReasonCode.QuotaExceeded], 'two held, on the other node too');
  assert.deepEqual((await resumed.client.subscribe([{ topic: 'cq/1', qos: 0 }])).granted, [0], 'a held filter can be replaced');
  await resumed.client.end();
  // Another client on either node has its own quota.
  const other = await RawClient.connect(a.mqttPort, 5);
  assert.deepEqual((await other.client.subscribe([{ topic: 'cq/x', qos: 0 }, { topic: 'cq/y', qos: 0 }])).granted, [0, 0]);
  await other.client.end();
  const [onA, onB] = await Promise.all([Scrape.of(a.httpPort), Scrape.of(b.httpPort)]);
  assert.equal(onA.value('roost_limit_hits_total', { limit: 'max_subscriptions' }), 1);
  assert.equal(onB.value('roost_limit_hits_total', { limit: 'max_subscriptions' }), 1);
});

test('cluster: a flooding client is held to its rate on its node; a subscriber on the other node gets the flood at that rate, and all of it', { timeout: 30_000 }, async () => {
  const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
  const { client: subscriber, inbox } = await connectWithInbox(b.url, { protocolVersion: 5, clientId: unique('sub') });
  await subscriber.subscribeAsync('cf/#', { qos: 0 });
  const prober = await connect(a.url, { protocolVersion: 5, clientId: unique('probe') });
  await untilRouted(prober, inbox, 'cf/probe');
  await end(prober);
  const flooded = () => inbox.messages.filter((m) => m.topic === 'cf/flood').length;
  const untilFlooded = async (n: number) => {
    while (flooded() < n) await new Promise((resolve) => subscriber.once('message', resolve));
  };
  const { client } = await RawClient.connect(a.mqttPort, 5);
  const count = 3 * RATE;
  const packets = Array.from({ length: count }, () => client.encode({ cmd: 'publish', topic: 'cf/flood', payload: Buffer.from('f'), qos: 0, retain: false, dup: false } as IPublishPacket));
  const started = Date.now();
  client.sendBytes(Buffer.concat(packets));
  await untilFlooded(RATE); // the burst
  await new Promise((resolve) => setTimeout(resolve, 500)); // a window to count in
  const through = flooded();
  const bound = RATE + (RATE * (Date.now() - started)) / 1000 + 5;
  assert.ok(through <= bound, `${through} messages through in ${Date.now() - started} ms, more than ${bound}`);
  await untilFlooded(count);
  const onA = await Scrape.of(a.httpPort);
  assert.ok(onA.value('roost_limit_hits_total', { limit: 'publish_rate' }) >= count - RATE - 5);
  assert.equal((await Scrape.of(b.httpPort)).value('roost_limit_hits_total', { limit: 'publish_rate' }), 0, 'counted where the client is');
  await Promise.all([client.end(), end(subscriber)]);
});
