import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { StoreUnavailableError, type Message } from '@roost/protocol';
import { Session, type Delivery } from '@roost/session';
import { topicMatches } from '@roost/topics';
import { RedisRetainedStore, RedisSessionStore } from '@roost/store-redis';
import { literalPrefix } from '../src/redis-retained-store.ts';
import { retainedStoreContract, sessionStoreContract } from '../../session/test/store-contract.ts';
import { startRedis, type RedisServer } from '../../../test/helpers/redis.ts';

let redis: RedisServer;
let client: Redis;
let prefixes = 0;

/** Every store gets keys of its own, so tests never see each other's data. */
function freshPrefix(): string {
  return `roost-test:${process.pid}:${++prefixes}:`;
}

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});

after(async () => {
  await client?.quit();
  await redis?.stop();
});

sessionStoreContract('RedisSessionStore', async () => new RedisSessionStore(client, freshPrefix()));
retainedStoreContract('RedisRetainedStore', async () => new RedisRetainedStore(client, freshPrefix()));

function delivery(topic: string, payload: Buffer, extra: Partial<Message> = {}): Delivery {
  return { message: { topic, payload, qos: 2, retain: false, ...extra }, qos: 1, retain: false };
}

describe('RedisSessionStore', () => {
  test('a session round-trips with in-flight (both phases, send order), queue, inbound QoS 2 ids and Buffers', async () => {
    const store = new RedisSessionStore(client, freshPrefix());
    const session = new Session('c/{odd}:id', 3600);
    session.disconnectedAt = 1_700_000_000_123;
    session.subscriptions.set('a/+', { qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 7 });
    session.subscriptions.set('b/#', { qos: 2, noLocal: false, retainAsPublished: true, retainHandling: 0 });
    const binary = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0xc3]);
    const first = delivery('a/1', binary, {
      expiresAt: 1_700_000_060_000,
      origin: 'publisher',
      properties: {
        payloadFormatIndicator: false,
        contentType: 'application/octet-stream',
        responseTopic: 'reply/here',
        correlationData: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
        userProperties: { k: 'v', multi: ['x', 'y'] },
      },
    });
    first.subscriptionIds = [7, 9];
    // Ids out of numeric order: send order must come back as inserted [MQTT-4.6.0-1].
    session.inflight.set(300, { phase: 'publish', delivery: first });
    session.inflight.set(2, { phase: 'pubrel', delivery: delivery('a/2', Buffer.alloc(0)) });
    session.inflight.set(17, { phase: 'publish', delivery: delivery('b/3', Buffer.from('three')) });
    for (const n of [1, 2, 3]) session.queue.push(delivery(`b/q${n}`, Buffer.from([n, 0xff])));
    session.inboundQos2.set(5, 'n1:1').set(65535, 'n1:2');
    session.firstSight('n1:0');
    await store.put(session);

    const found = await store.get(session.clientId);
    assert.ok(found);
    assert.equal(found.clientId, session.clientId);
    assert.equal(found.expiryInterval, 3600);
    assert.equal(found.disconnectedAt, session.disconnectedAt);
    assert.deepEqual([...found.subscriptions], [...session.subscriptions]);
    assert.deepEqual([...found.inflight], [...session.inflight]);
    assert.ok(Buffer.isBuffer(found.inflight.get(300)!.delivery.message.payload));
    assert.ok(Buffer.isBuffer(found.inflight.get(300)!.delivery.message.properties!.correlationData));
    assert.deepEqual([...found.queue], [...session.queue]);
    assert.deepEqual([...found.inboundQos2].sort((a, b) => a[0] - b[0]), [[5, 'n1:1'], [65535, 'n1:2']]);
    assert.deepEqual(found.recentMessageIds, ['n1:0']);
    // A rebuilt session never hands out an id that is still in flight.
    assert.equal(found.allocatePacketId(), 1);
    assert.equal(found.allocatePacketId(), 3);
  });

  test('message ids are appended per write: a session read back, written again and read knows them all, in order', async () => {
    const store = new RedisSessionStore(client, freshPrefix());
    const session = new Session('recent', 60);
    session.firstSight('m1');
    await store.put(session);
    session.firstSight('m2');
    await store.put(session);
    const found = (await store.get(session.clientId))!;
    assert.deepEqual(found.recentMessageIds, ['m1', 'm2']);
    found.firstSight('m3');
    await store.put(found);
    assert.deepEqual((await store.get(session.clientId))!.recentMessageIds, ['m1', 'm2', 'm3']);
  });

  test('a connected session is stored but not offline, and put replaces what was stored', async () => {
    const store = new RedisSessionStore(client, freshPrefix());
    const session = new Session('c1', 60);
    session.disconnectedAt = Date.now();
    session.queue.push(delivery('t/1', Buffer.from('1')));
    session.inflight.set(1, { phase: 'publish', delivery: delivery('t/0', Buffer.from('0')) });
    await store.put(session);
    const resumed = (await store.get('c1'))!;
    resumed.disconnectedAt = undefined;
    resumed.queue.clear();
    resumed.inflight.clear();
    await store.put(resumed);

    const found = (await store.get('c1'))!;
    assert.equal(found.disconnectedAt, undefined);
    assert.equal(found.queue.length, 0);
    assert.equal(found.inflight.size, 0);
    const offline: string[] = [];
    for await (const s of store.offline()) offline.push(s.clientId);
    assert.deepEqual(offline, []);
    assert.equal(await store.count(), 1);
  });

  test('enqueue for a session that is not stored queues nothing', async () => {
    const store = new RedisSessionStore(client, freshPrefix());
    const dropped = await store.enqueue('ghost', delivery('t/1', Buffer.from('1')), { maxQueuedMessages: 10, queueOverflow: 'drop-oldest' });
    assert.equal(dropped, undefined);
    assert.equal(await store.get('ghost'), undefined);
    assert.equal(await store.count(), 0);
  });

  test('a queue limit of 0 refuses every delivery under either policy', async () => {
    const store = new RedisSessionStore(client, freshPrefix());
    await store.put(new Session('c1', 60));
    for (const queueOverflow of ['drop-oldest', 'drop-newest'] as const) {
      const dropped = await store.enqueue('c1', delivery('t/1', Buffer.from('1')), { maxQueuedMessages: 0, queueOverflow });
      assert.equal(dropped?.message.topic, 't/1');
    }
    assert.equal((await store.get('c1'))!.queue.length, 0);
  });

  test("one session's keys share a Redis Cluster hash slot", async () => {
    const prefix = freshPrefix();
    const store = new RedisSessionStore(client, prefix);
    const session = new Session('slot-me', 60);
    session.queue.push(delivery('t/1', Buffer.from('1')));
    session.inflight.set(1, { phase: 'publish', delivery: delivery('t/0', Buffer.from('0')) });
    session.inboundQos2.set(4, 'n1:4');
    await store.put(session);
    const keys = await client.keys(`${prefix}*`);
    const sessionKeys = keys.filter((key) => key.includes('{'));
    assert.equal(sessionKeys.length, 4);
    // Redis Cluster hashes only the text between the first `{` and the next `}` when there is one.
    const hashTag = (key: string) => key.slice(key.indexOf('{') + 1, key.indexOf('}', key.indexOf('{') + 1));
    assert.deepEqual(new Set(sessionKeys.map(hashTag)), new Set(['slot-me']));
  });
});

describe('RedisRetainedStore', () => {
  test('literalPrefix keeps the levels before the first wildcard', () => {
    assert.equal(literalPrefix('a/b'), undefined);
    assert.equal(literalPrefix('a/b/+/c'), 'a/b/');
    assert.equal(literalPrefix('a/b/#'), 'a/b');
    assert.equal(literalPrefix('+/b'), '');
    assert.equal(literalPrefix('#'), '');
    assert.equal(literalPrefix('$SYS/#'), '$SYS');
  });

  test('a retained message round-trips with its Buffers, properties and expiry', async () => {
    const store = new RedisRetainedStore(client, freshPrefix());
    const message: Message = {
      topic: 'a/ünïcode/b',
      payload: Buffer.from([0, 1, 2, 0xff]),
      qos: 2,
      retain: true,
      expiresAt: 1_700_000_000_000,
      properties: { correlationData: Buffer.from([9, 8]), userProperties: { a: '1' }, payloadFormatIndicator: false },
    };
    await store.set(message);
    assert.deepEqual(await store.match('a/ünïcode/b'), [message]);
    assert.deepEqual(await store.match('a/+/b'), [message]);
    assert.deepEqual(await store.match('a/#'), [message]);
    assert.deepEqual(await store.match('a'), []);
  });

  test('a wildcard lookup over 10k retained topics reads only the index and the matching keys', async () => {
    const prefix = freshPrefix();
    const store = new RedisRetainedStore(client, prefix);
    const topics = Array.from({ length: 10_000 }, (_, i) => `site/${i % 100}/sensor/${i}`);
    for (let i = 0; i < topics.length; i += 1000) {
      await Promise.all(topics.slice(i, i + 1000).map((topic) => store.set({ topic, payload: Buffer.from(topic), qos: 1, retain: true })));
    }
    assert.equal(await store.count(), 10_000);

    for (const filter of ['site/42/sensor/+', '+/42/sensor/#']) {
      const expected = topics.filter((topic) => topicMatches(filter, topic)).sort();
      assert.equal(expected.length, 100);
      const commands = await monitored(() => store.match(filter).then((found) => assert.deepEqual(found.map((m) => m.topic).sort(), expected)));
      const names = new Set(commands.map(([name]) => name));
      assert.deepEqual([...names].sort(), ['mget', 'zrangebylex'], `${filter}: only index reads and MGET, no SCAN/KEYS`);
      const read = commands.filter(([name]) => name === 'mget').flatMap(([, ...keys]) => keys);
      assert.deepEqual(read.sort(), expected.map((topic) => `${prefix}{retained}:topic:${topic}`));
    }
  });
});

/** The commands (lowercased name first) Redis executed while `work` ran, seen through MONITOR. */
async function monitored(work: () => Promise<unknown>): Promise<string[][]> {
  const monitor = await client.monitor();
  const seen: string[][] = [];
  const marker = `monitor-done-${Math.random()}`;
  const done = new Promise<void>((resolve) => {
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) resolve();
      else seen.push([args[0]!.toLowerCase(), ...args.slice(1)]);
    });
  });
  try {
    await work();
    await client.echo(marker); // MONITOR is ordered: once the marker shows, everything before it has
    await done;
  } finally {
    monitor.disconnect();
  }
  return seen;
}

describe('when Redis is unavailable', () => {
  test('both stores reject with StoreUnavailableError', async () => {
    const server = await startRedis();
    // Fail fast once the server is gone, as a node would configure its client.
    const lonely = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 20 });
    lonely.on('error', () => {}); // reconnect failures are expected here
    try {
      const sessions = new RedisSessionStore(lonely, freshPrefix());
      const retained = new RedisRetainedStore(lonely, freshPrefix());
      await sessions.put(new Session('c1', 60));
      const closed = once(lonely, 'close');
      await server.stop();
      await closed;

      const unavailable = (error: unknown) => error instanceof StoreUnavailableError && error.cause instanceof Error;
      await assert.rejects(sessions.get('c1'), unavailable);
      await assert.rejects(sessions.put(new Session('c2', 60)), unavailable);
      await assert.rejects(sessions.enqueue('c1', delivery('t/1', Buffer.from('1')), { maxQueuedMessages: 1, queueOverflow: 'drop-oldest' }), unavailable);
      await assert.rejects(sessions.count(), unavailable);
      await assert.rejects(async () => {
        for await (const _ of sessions.offline());
      }, unavailable);
      await assert.rejects(retained.set({ topic: 'a', payload: Buffer.from('x'), qos: 0, retain: true }), unavailable);
      await assert.rejects(retained.match('a/#'), unavailable);
    } finally {
      lonely.disconnect();
      await server.stop();
    }
  });
});

describe('RedisSessionStore: queue written as a change', () => {
  const topics = (session: Session | undefined) => [...session!.queue].map((d) => d.message.topic);

  test('puts after the first write only what left the head and joined the tail; a read gives the same queue', async () => {
    const prefix = freshPrefix();
    const store = new RedisSessionStore(client, prefix);
    const session = new Session('q1', 60);
    for (const n of [1, 2, 3, 4]) session.queue.push(delivery(`t/${n}`, Buffer.from(String(n))));
    await store.put(session);
    session.queue.shift();
    session.queue.shift();
    for (const n of [5, 6]) session.queue.push(delivery(`t/${n}`, Buffer.from(String(n))));
    await store.put(session);
    assert.deepEqual(topics(await store.get('q1')), ['t/3', 't/4', 't/5', 't/6']);
    // A session read back is in step too: its next change is written as a change.
    const read = (await store.get('q1'))!;
    read.queue.shift();
    read.queue.push(delivery('t/7', Buffer.from('7')));
    await store.put(read);
    assert.deepEqual(topics(await store.get('q1')), ['t/4', 't/5', 't/6', 't/7']);
  });

  test('items pushed and shifted again since the last write: the queue is rewritten whole', async () => {
    const store = new RedisSessionStore(client, freshPrefix());
    const session = new Session('q2', 60);
    session.queue.push(delivery('t/1', Buffer.from('1')));
    await store.put(session);
    session.queue.push(delivery('t/2', Buffer.from('2')));
    session.queue.shift();
    session.queue.shift();
    session.queue.push(delivery('t/3', Buffer.from('3')));
    await store.put(session);
    assert.deepEqual(topics(await store.get('q2')), ['t/3']);
  });

  test('a stored queue that is not as this writer left it is detected and rewritten whole', async () => {
    const prefix = freshPrefix();
    const store = new RedisSessionStore(client, prefix);
    const session = new Session('q3', 60);
    for (const n of [1, 2]) session.queue.push(delivery(`t/${n}`, Buffer.from(String(n))));
    await store.put(session);
    await client.rpush(`${prefix}queue:{q3}`, 'foreign'); // e.g. a write this node believes failed
    session.queue.shift();
    await store.put(session);
    assert.deepEqual(topics(await store.get('q3')), ['t/2']);
  });
});
