// A message on its way to a persistent subscriber's node when the subscriber moves to another
// node. The old holder hears the new node's Takeover on one gRPC connection and the message on
// the publisher's node's Forward stream, another connection: nothing orders the two, and a
// busy node (here: one whose cluster port is behind a jittery link) can read the Takeover
// first and let the session go before the message arrives. The message was acknowledged to its
// publisher all the same, so it must reach the subscriber at its new node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startNode, untilRouted, type NodeProcess } from '../helpers/cluster.ts';
import { connect, end, unique } from '../helpers/clients.ts';
import { startDelayProxy, type DelayProxy } from '../helpers/delay-proxy.ts';
import { MovingSubscriber, paced } from '../helpers/paced.ts';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.ts';

/** Per chunk, each way, on every connection to the holder's cluster port: FIFO per connection, so connections overtake one another. */
const HOLDER_LINK_JITTER: [number, number] = [0, 60];
const MESSAGES = 3_000;
const IN_FLIGHT = 300;
/** Moves away from the jittery node (each followed by one back). */
const MOVES = 4;

let redis: RedisServer;
let proxy: DelayProxy;
const nodes: NodeProcess[] = [];

before(async () => {
  redis = await startRedis();
  const prefix = `${unique('late')}:`;
  const env = { ROOST_MAX_QUEUED_MESSAGES: '1000000' };
  const clusterPort = await freePort();
  proxy = await startDelayProxy(`127.0.0.1:${clusterPort}`, HOLDER_LINK_JITTER);
  // The holder advertises the proxy: every peer reaches its gRPC server through the jitter.
  nodes.push(await startNode(redis.url, prefix, { ...env, ROOST_CLUSTER_PORT: String(clusterPort), ROOST_CLUSTER_ADVERTISE: `127.0.0.1:${proxy.port}` }));
  for (let i = 0; i < 2; i++) nodes.push(await startNode(redis.url, prefix, env));
});

after(async () => {
  await Promise.all(nodes.map((node) => node.kill()));
  await proxy?.stop();
  await redis?.stop();
});

test(`[MQTT-4.3.2-1] a persistent subscriber moving away from its node ${MOVES} times while a third node publishes to it gets every acknowledged message, those the Takeover overtook included`, { timeout: 90_000 }, async () => {
  const [jittery, other, publisherNode] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  const clientId = unique('mover');
  const topic = `${unique('late')}/data`;
  const subscriber = new MovingSubscriber(clientId);
  await (await subscriber.moveTo(jittery.url)).subscribeAsync(topic, { qos: 1 });
  // The node the subscriber moves to routes the topic already (another subscriber there): its
  // CONNECT asks the holder for the session at once, with no route to spread first.
  const resident = await connect(other.url, { protocolVersion: 5 });
  await resident.subscribeAsync(topic, { qos: 1 });
  const publisher = await connect(publisherNode.url, { protocolVersion: 5 });
  await untilRouted(publisher, subscriber.inbox, topic);
  const clients: MqttClient[] = [publisher, resident];
  const acked = new Set<string>();
  let wake: (() => void) | undefined;
  try {
    const flooding = paced(publisher, topic, MESSAGES, IN_FLIGHT, acked, () => wake?.());
    // Away from the jittery node (where late forwards can arrive), then back, one move at a time.
    for (let move = 1; move <= 2 * MOVES; move++) {
      while (acked.size < (move * MESSAGES) / (2 * MOVES + 2)) await new Promise<void>((resolve) => (wake = resolve));
      await subscriber.moveTo((move % 2 === 1 ? other : jittery).url);
    }
    await flooding;
    const lost = await subscriber.lostOf(acked, publisher, topic);
    assert.equal(lost.length, 0, `${lost.length} of ${acked.size} acknowledged messages never reached the subscriber (e.g. ${lost.slice(0, 10).join(', ')})`);
  } finally {
    await end(...[...clients, ...subscriber.clients].filter((client) => client.connected));
  }
});
