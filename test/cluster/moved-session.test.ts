// A persistent subscriber moving between nodes while a cross-node QoS 1 flood is under way,
// with the holder's acks slow (its Redis farther away): every message whose publisher got
// its PUBACK arrives at the subscriber. And two CONNECTs for one client id racing on two
// nodes settle at once, not when their takeover calls time out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startNode, untilRouted, type NodeProcess } from '../helpers/cluster.ts';
import { connect, connectWithInbox, end, unique } from '../helpers/clients.ts';
import mqtt from 'mqtt';
import { startDelayProxy, type DelayProxy } from '../helpers/delay-proxy.ts';
import { MovingSubscriber, paced } from '../helpers/paced.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

/**
 * Between the holder and Redis, per chunk each way: its forward acks wait for its session
 * writes, so the publisher's node keeps batches queued behind its window of unacknowledged ones.
 */
const HOLDER_REDIS_DELAY: [number, number] = [40, 60];
const MESSAGES = 3_000;
/** QoS 1 messages the publisher keeps unacknowledged at once. */
const IN_FLIGHT = 1_000;
const MOVES = 4;

let redis: RedisServer;
let proxy: DelayProxy;
const nodes: NodeProcess[] = [];

before(async () => {
  redis = await startRedis();
  proxy = await startDelayProxy(redis.url, HOLDER_REDIS_DELAY);
  const prefix = `${unique('moved')}:`;
  // The first node reaches Redis through the proxy, the second directly.
  // Queues far above what the flood leaves for a moving session: the overflow policy drops nothing.
  for (const url of [proxy.url, redis.url]) nodes.push(await startNode(url, prefix, { ROOST_MAX_QUEUED_MESSAGES: '1000000' }));
});

after(async () => {
  await Promise.all(nodes.map((node) => node.kill()));
  await proxy?.stop();
  await redis?.stop();
});

test(`[MQTT-4.3.2-1] a persistent subscriber moved ${MOVES} times during a cross-node QoS 1 flood whose holder acknowledges slowly gets every acknowledged message`, { timeout: 60_000 }, async () => {
  const [slow, fast] = nodes as [NodeProcess, NodeProcess];
  const clientId = unique('mover');
  const topic = `${unique('moved')}/data`;
  const subscriber = new MovingSubscriber(clientId);
  await (await subscriber.moveTo(slow.url)).subscribeAsync(topic, { qos: 1 });
  // The publisher's node forwards every message to the subscriber's node, then (after the
  // first move) keeps them local, and so on: each move leaves forwards behind at the old node.
  const publisher = await connect(fast.url, { protocolVersion: 5 });
  await untilRouted(publisher, subscriber.inbox, topic);
  const acked = new Set<string>();
  const clients: MqttClient[] = [publisher];
  let wake: (() => void) | undefined;
  const ackedAtMove: number[] = [];
  try {
    const flooding = paced(publisher, topic, MESSAGES, IN_FLIGHT, acked, () => wake?.());
    // One move at a time (racing CONNECTs are another test's: one of them is refused), each
    // after another share of the flood; the new connection takes the session over (the old
    // one gets 0x8E), and the holders alternate.
    for (let move = 1; move <= MOVES; move++) {
      while (acked.size < (move * MESSAGES) / (2 * MOVES + 2)) await new Promise<void>((resolve) => (wake = resolve));
      await subscriber.moveTo((move % 2 === 1 ? fast : slow).url);
      ackedAtMove.push(acked.size);
    }
    await flooding;
    assert.ok(ackedAtMove[1]! < MESSAGES, `moves during the flood (acknowledged at each: ${ackedAtMove.join(', ')})`);
    const lost = await subscriber.lostOf(acked, publisher, topic);
    assert.equal(lost.length, 0, `${lost.length} of ${acked.size} acknowledged messages never reached the subscriber (e.g. ${lost.slice(0, 10).join(', ')})`);
  } finally {
    await end(...[...clients, ...subscriber.clients].filter((client) => client.connected));
  }
});

/** Resolves with how a connection attempt ended: its CONNACK, or the close or error before one. */
function attempt(url: string, options: mqtt.IClientOptions): Promise<{ client: mqtt.MqttClient; connected: boolean }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 30_000, ...options });
  return new Promise((resolve) => {
    client.once('connect', () => resolve({ client, connected: true }));
    client.once('close', () => resolve({ client, connected: false }));
    client.on('error', () => undefined);
  });
}

/** Above the time a takeover stuck on a peer takes to give up (10 s), well below it for a settled race. */
const RACE_BOUND_MS = 5_000;

test('[MQTT-3.1.4-3] two CONNECTs for one client id, on the node holding it and on another, at once: one wins and the race settles within the bound, not at the takeover deadline', { timeout: 60_000 }, async () => {
  const [slow, fast] = nodes as [NodeProcess, NodeProcess];
  for (let round = 0; round < 5; round++) {
    const clientId = unique('racer');
    const options = { clientId, clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 600 } };
    const holder = await connect(slow.url, options);
    const started = Date.now();
    // The holder's node and the other node each take the session from the other.
    const [here, there] = await Promise.all([attempt(slow.url, options), attempt(fast.url, options)]);
    const elapsed = Date.now() - started;
    const winners = [here, there].filter((a) => a.connected && !a.client.disconnecting);
    try {
      assert.ok(elapsed < RACE_BOUND_MS, `round ${round}: the race took ${elapsed} ms`);
      assert.ok(winners.length >= 1, `round ${round}: some connection got a CONNACK`);
    } finally {
      await Promise.all([holder, here.client, there.client].map((client) => client.endAsync(true)));
    }
  }
});

test('[MQTT-3.8.4-1] a subscription made on a node while it hands its last subscriber of the filter to another node stays routed: a message published elsewhere afterwards reaches it', { timeout: 60_000 }, async () => {
  const [slow, fast] = nodes as [NodeProcess, NodeProcess];
  const topic = `${unique('handed')}/data`;
  const options = { clientId: unique('leaver'), clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 600 } };
  // The leaver is the slow node's only subscriber of the filter; the joiner subscribes to it
  // there while the slow node saves the leaver's session for the fast node (its Redis is
  // 40-60 ms away, so the save leaves a window of ~100 ms after the filter left the router).
  const leaver = await connect(slow.url, options);
  await leaver.subscribeAsync(topic, { qos: 1 });
  const { client: joiner, inbox } = await connectWithInbox(slow.url, { protocolVersion: 5 });
  const clients: MqttClient[] = [leaver, joiner];
  try {
    const subscribed = new Promise<unknown>((resolve, reject) => {
      leaver.once('disconnect', () => joiner.subscribeAsync(topic, { qos: 1 }).then(resolve, reject));
    });
    const moved = await connect(fast.url, options);
    clients.push(moved);
    await subscribed;
    // The takeover ended (CONNACK) after the slow node removed its route; a filter new to the
    // slow node routed after that (SUBACK) means the fast node's replica is past the removal.
    const probe = await connect(slow.url, { protocolVersion: 5 });
    clients.push(probe);
    await probe.subscribeAsync(`${topic}/sync`, { qos: 0 });
    const publisher = await connect(fast.url, { protocolVersion: 5 });
    clients.push(publisher);
    await publisher.publishAsync(topic, 'after the move', { qos: 1 });
    await inbox.until((m) => m.payload.toString() === 'after the move', 5_000).catch((error: Error) => {
      assert.fail(`the joiner on the slow node never got a message published on the fast node: its node is unrouted (${error.message})`);
    });
  } finally {
    await end(...clients.filter((client) => client.connected));
  }
});
