// SUBACK means routed on every live node: a message published on another node the moment
// the SUBACK arrives reaches the new subscriber, even when that node is farther from Redis
// (two zones) and so hears of the route later than the subscriber's node does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { startNode, untilRouted, type NodeProcess } from '../helpers/cluster.ts';
import { connect, connectWithInbox, end, Inbox, unique } from '../helpers/clients.ts';
import { startDelayProxy, type DelayProxy } from '../helpers/delay-proxy.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

/** Per chunk, each way, between the publisher's node and Redis: a second zone. */
const PUBLISHER_ZONE_DELAY: [number, number] = [5, 20];
const ROUNDS = 500;
const ROUNDS_EXISTING = 200;
/** How long a published message may take to arrive; a routed one takes milliseconds. */
const DELIVERY_BOUND_MS = 3_000;

let redis: RedisServer;
let proxy: DelayProxy;
let subscriberNode: NodeProcess;
let publisherNode: NodeProcess;
const nodes: NodeProcess[] = [];

before(async () => {
  redis = await startRedis();
  proxy = await startDelayProxy(redis.url, PUBLISHER_ZONE_DELAY);
  const prefix = `${unique('suback')}:`;
  // The subscriber's node and a third node next to Redis; the publisher's node behind the proxy.
  const started = await Promise.all(
    [redis.url, proxy.url, redis.url].map(async (url) => {
      const node = await startNode(url, prefix);
      nodes.push(node); // for after(), even if another node fails to start
      return node;
    }),
  );
  [subscriberNode, publisherNode] = started as [NodeProcess, NodeProcess];
});

after(async () => {
  await Promise.all(nodes.map((node) => node.kill()));
  await proxy?.stop();
  await redis?.stop();
});

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * MQTT.js leaves Nagle on: a SUBSCRIBE written right after a PUBACK then waits for the
 * broker's delayed ACK (~40 ms), which would only slow the rounds down.
 */
function noDelay<T extends MqttClient>(client: T): T {
  (client.stream as Socket).setNoDelay?.(true);
  return client;
}

/** Resolves true once a message with `payload` is in `inbox`, false after `ms`. */
function arrives(inbox: Inbox, payload: string, ms: number): Promise<boolean> {
  return inbox.until((m) => m.payload.toString() === payload, ms).then(
    () => true,
    () => false,
  );
}

/**
 * `rounds` times: `subscribe(round)` resolves at SUBACK, and at once the publisher sends one
 * QoS 1 message that the new subscription matches. Each delivery is awaited (bounded) while
 * the next round goes on; resolves with the rounds whose message never came.
 */
async function publishOnSuback(
  rounds: number,
  publisher: MqttClient,
  subscribe: (round: number) => Promise<{ topic: string; inbox: Inbox; after?: () => Promise<void> }>,
): Promise<number[]> {
  const waits: Array<Promise<boolean>> = [];
  for (let round = 0; round < rounds; round++) {
    const { topic, inbox, after } = await subscribe(round);
    const payload = `round ${round}`;
    const delivered = arrives(inbox, payload, DELIVERY_BOUND_MS);
    await within(publisher.publishAsync(topic, payload, { qos: 1 }), 5_000, `round ${round}: PUBACK`);
    if (after) {
      await delivered;
      await after();
    }
    waits.push(delivered);
  }
  const results = await Promise.all(waits);
  return results.flatMap((ok, round) => (ok ? [] : [round]));
}

test(`SUBACK means routed: a filter new to the cluster, ${ROUNDS} times, each QoS 1 message published on a farther node at SUBACK is delivered`, async () => {
  const base = unique('new-filter');
  const sub = await connectWithInbox(subscriberNode.url, { protocolVersion: 5 });
  const pub = await connect(publisherNode.url, { protocolVersion: 5 });
  noDelay(sub.client);
  noDelay(pub);
  try {
    const missed = await publishOnSuback(ROUNDS, pub, async (round) => {
      // Exact filters and wildcards alike: every one is new to every node.
      const topic = `${base}/${round}/x`;
      const filter = round % 2 === 0 ? topic : `${base}/${round}/+`;
      await within(sub.client.subscribeAsync(filter, { qos: 1 }), 5_000, `round ${round}: SUBACK`);
      return { topic, inbox: sub.inbox };
    });
    assert.equal(missed.length, 0, `${missed.length} of ${ROUNDS} messages published at SUBACK were never delivered (rounds ${missed.slice(0, 20).join(', ')}${missed.length > 20 ? ', …' : ''})`);
  } finally {
    await end(sub.client, pub);
  }
});

test(`SUBACK of a filter the node already routes: a second subscriber on the same node gets the message published at its SUBACK, ${ROUNDS_EXISTING} times`, async () => {
  const topic = unique('existing-filter');
  const resident = await connectWithInbox(subscriberNode.url, { protocolVersion: 5 });
  await resident.client.subscribeAsync(topic, { qos: 1 });
  const pub = await connect(publisherNode.url, { protocolVersion: 5 });
  await untilRouted(pub, resident.inbox, topic);
  const second = await connectWithInbox(subscriberNode.url, { protocolVersion: 5 });
  noDelay(second.client);
  noDelay(pub);
  try {
    const missed = await publishOnSuback(ROUNDS_EXISTING, pub, async (round) => {
      await within(second.client.subscribeAsync(topic, { qos: 1 }), 5_000, `round ${round}: SUBACK`);
      // Unsubscribed again once its message came, so each round's SUBSCRIBE adds a subscriber
      // to a filter the node routes all along for the resident one.
      return { topic, inbox: second.inbox, after: async () => void (await within(second.client.unsubscribeAsync(topic), 5_000, `round ${round}: UNSUBACK`)) };
    });
    assert.equal(missed.length, 0, `${missed.length} of ${ROUNDS_EXISTING} messages published at SUBACK were never delivered to the second subscriber (rounds ${missed.slice(0, 20).join(', ')})`);
  } finally {
    await end(resident.client, second.client, pub);
  }
});
