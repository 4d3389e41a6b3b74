// One QoS 2 message dispatched to a shared group twice at once: the publisher's node offers it
// to a member on a slow node, and before that offer arrives the publisher, moved to another
// node, sends it again (DUP), and that node gives it to a member of its own. MQTT 5 §4.8.2:
// the message goes to one member only. The member that took a QoS 2 message is claimed in
// Redis (set only if absent), so the later taker follows the first instead of taking it too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startNode, type NodeProcess } from '../helpers/cluster.ts';
import { connectWithInbox, end, unique } from '../helpers/clients.ts';
import { startDelayProxy, type DelayProxy } from '../helpers/delay-proxy.ts';
import { Scrape, untilScrape } from '../helpers/metrics.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.ts';

/** Each way, on every connection to the slow node's cluster port: the first offer arrives this late. */
const SLOW_LINK_MS = 400;

let redis: RedisServer;
let proxy: DelayProxy;
let slow: NodeProcess;
let fast: NodeProcess;
let publisherNode: NodeProcess;

before(async () => {
  redis = await startRedis();
  const prefix = `${unique('shared-race')}:`;
  // `local`: a node with a member gives it the message; one without goes round its peers in
  // node id order from the first, so the publisher's node offers its first message to `slow`.
  const env = { ROOST_SHARED_STRATEGY: 'local' };
  const clusterPort = await freePort();
  proxy = await startDelayProxy(`127.0.0.1:${clusterPort}`, SLOW_LINK_MS);
  slow = await startNode(redis.url, prefix, {
    ...env,
    ROOST_NODE_ID: unique('a-slow'),
    ROOST_CLUSTER_PORT: String(clusterPort),
    ROOST_CLUSTER_ADVERTISE: `127.0.0.1:${proxy.port}`,
  });
  fast = await startNode(redis.url, prefix, { ...env, ROOST_NODE_ID: unique('b-fast') });
  publisherNode = await startNode(redis.url, prefix, { ...env, ROOST_NODE_ID: unique('c-pub') });
});

after(async () => {
  await Promise.all([slow, fast, publisherNode].map((node) => node?.kill()));
  await proxy?.stop();
  await redis?.stop();
});

test('[MQTT-4.3.3-10] [§4.8.2] a QoS 2 message offered to a shared group twice at once (a slow first offer, the publisher resending from another node) reaches one member only', { timeout: 30_000 }, async () => {
  const topic = unique('race');
  const filter = `$share/g/${topic}`;
  const clients: MqttClient[] = [];
  try {
    const onSlow = await connectWithInbox(slow.url, { protocolVersion: 5 });
    const onFast = await connectWithInbox(fast.url, { protocolVersion: 5 });
    clients.push(onSlow.client, onFast.client);
    await onSlow.client.subscribeAsync(filter, { qos: 2 });
    await onFast.client.subscribeAsync(filter, { qos: 2 });

    const fields = { clientId: unique('publisher'), clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await RawClient.connect(publisherNode.mqttPort, 5, fields);
    const received = (await Scrape.of(publisherNode.httpPort)).value('roost_messages_received_total');
    first.client.send({ cmd: 'publish', topic, payload: Buffer.from('once'), qos: 2, messageId: 7, dup: false, retain: false });
    // The publisher's node has the message (routed, its offer on the slow link); no PUBREC yet.
    await untilScrape(publisherNode.httpPort, (scrape) => scrape.value('roost_messages_received_total') > received);
    first.client.destroy();

    // Moved: the session, and the packet id's message id with it, come along; the resend is
    // routed again under that id, and this node's member takes it at once.
    const again = await RawClient.connect(fast.mqttPort, 5, fields);
    assert.equal(again.connack.sessionPresent, true);
    again.client.send({ cmd: 'publish', topic, payload: Buffer.from('once'), qos: 2, messageId: 7, dup: true, retain: false });
    const pubrec = await again.client.next('pubrec', 10_000);
    assert.equal(pubrec.reasonCode ?? 0, 0);
    await onFast.inbox.until((m) => m.topic === topic, 10_000);

    // Then the first offer reaches the slow node. It must not give the message to its member:
    // it finds the fast node's member on record and sends it there, whose session has it.
    const skippedAt = untilScrape(fast.httpPort, (scrape) => scrape.value('roost_qos2_duplicates_skipped_total') > 0, 10_000).then(
      () => 'skipped at the member on record',
      () => 'neither within 10 s',
    );
    const secondMember = onSlow.inbox.until((m) => m.topic === topic, 10_000).then(
      () => 'delivered to a second member',
      () => 'neither within 10 s',
    );
    assert.equal(await Promise.race([skippedAt, secondMember]), 'skipped at the member on record');
    assert.equal(onFast.inbox.messages.filter((m) => m.topic === topic).length, 1);
    await again.client.end();
  } finally {
    await end(...clients);
  }
});
