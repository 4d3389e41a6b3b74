// What the operations API reads from the cluster state, against a real Redis: directory
// pages (bounded, stable cursor, prefix across nodes) and the registry's members.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { ListPosition } from '@roost/broker';
import { RedisNodeRegistry, RedisSessionDirectory } from '@roost/store-redis';
import { startRedis, type RedisServer } from '../../../test/helpers/redis.ts';

let redis: RedisServer;
let client: Redis;
let prefixes = 0;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});

after(async () => {
  await client.quit();
  await redis.stop();
});

function freshPrefix(): string {
  return `roost-admin-test:${process.pid}:${++prefixes}:`;
}

/** Every page, following `next`; each page's size too. */
async function walk(directory: RedisSessionDirectory, limit: number, prefix?: string): Promise<{ entries: string[]; sizes: number[] }> {
  const entries: string[] = [];
  const sizes: number[] = [];
  let after: ListPosition | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await directory.page({ limit, after, prefix });
    entries.push(...page.entries.map((e) => `${e.nodeId}/${e.clientId}`));
    sizes.push(page.entries.length);
    if (!page.next) return { entries, sizes };
    after = page.next;
  }
  throw new Error('the cursor does not advance');
}

test('directory pages list every held client once, by node then client id, at most `limit` a page', async () => {
  const directory = new RedisSessionDirectory(client, freshPrefix());
  // Node ids that prefix each other, and client ids on either side of the prefix searched below.
  const held = [['n1', 'a1'], ['n1', 'b1'], ['n1x', 'a2'], ['n2', 'a3'], ['n2', 'zz'], ['n2', 'a4'], ['n3', 'b2']];
  for (const [node, clientId] of held) await directory.claim(clientId!, node!);
  const { entries, sizes } = await walk(directory, 2);
  assert.deepEqual(entries, ['n1/a1', 'n1/b1', 'n1x/a2', 'n2/a3', 'n2/a4', 'n2/zz', 'n3/b2']);
  assert.ok(sizes.every((size) => size <= 2), String(sizes));
  // A client that moves to another node is listed under its new holder only.
  await directory.claim('a1', 'n3');
  assert.deepEqual((await walk(directory, 100)).entries, ['n1/b1', 'n1x/a2', 'n2/a3', 'n2/a4', 'n2/zz', 'n3/a1', 'n3/b2']);
});

test('a prefix is searched on every node in turn, and a page ending mid-node resumes where it stopped', async () => {
  const directory = new RedisSessionDirectory(client, freshPrefix());
  for (const [node, clientId] of [['n1', 'a1'], ['n1', 'b1'], ['n2', 'b2'], ['n3', 'a2'], ['n3', 'a3'], ['n3', 'a4'], ['n4', 'c1']]) {
    await directory.claim(clientId!, node!);
  }
  assert.deepEqual((await walk(directory, 2, 'a')).entries, ['n1/a1', 'n3/a2', 'n3/a3', 'n3/a4']);
  assert.deepEqual((await walk(directory, 10, 'b')).entries, ['n1/b1', 'n2/b2']);
  assert.deepEqual((await walk(directory, 1, 'none')).entries, []);
});

test('a released client leaves the listing; a cursor survives the removal of the entry it points at', async () => {
  const directory = new RedisSessionDirectory(client, freshPrefix());
  const epochs = new Map<string, number>();
  for (const clientId of ['c1', 'c2', 'c3', 'c4']) epochs.set(clientId, (await directory.claim(clientId, 'n1')).epoch);
  const first = await directory.page({ limit: 2 });
  assert.deepEqual(first.next, { nodeId: 'n1', clientId: 'c2' });
  await directory.release('c2', epochs.get('c2')!);
  const second = await directory.page({ limit: 2, after: first.next });
  assert.deepEqual(second.entries, [{ nodeId: 'n1', clientId: 'c3' }, { nodeId: 'n1', clientId: 'c4' }]);
});

test('registry members: alive and dead known nodes with their addresses; a forgotten node is gone', async () => {
  const prefix = freshPrefix();
  const live = new RedisNodeRegistry(client, prefix, { heartbeatMs: 50, ttlMs: 5000 });
  const leaving = new RedisNodeRegistry(client, prefix, { heartbeatMs: 50, ttlMs: 5000 });
  await live.register({ nodeId: 'live', address: '10.0.0.1:7946' });
  await leaving.register({ nodeId: 'leaving', address: '10.0.0.2:7946' });
  await leaving.close({ handOver: true }); // known without a heartbeat, as a node awaiting its reap
  const byId = (members: Array<{ nodeId: string }>) => [...members].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  assert.deepEqual(byId(await live.members()), [
    { nodeId: 'leaving', address: '10.0.0.2:7946', alive: false },
    { nodeId: 'live', address: '10.0.0.1:7946', alive: true },
  ]);
  await live.forget('leaving');
  assert.deepEqual(await live.members(), [{ nodeId: 'live', address: '10.0.0.1:7946', alive: true }]);
  await live.close();
});

test('a prefix page takes a bounded number of steps: past many nodes without a match it ends early with a cursor', async () => {
  const directory = new RedisSessionDirectory(client, freshPrefix());
  const nodes = Array.from({ length: 80 }, (_, i) => `node-${String(i).padStart(2, '0')}`);
  for (const node of nodes) await directory.claim(`other-${node}`, node);
  await directory.claim('wanted', 'node-79');
  const first = await directory.page({ limit: 10, prefix: 'wanted' });
  assert.deepEqual(first.entries, []);
  assert.ok(first.next, 'the page ended at its step bound, not at the end');
  const { entries, sizes } = await walk(directory, 10, 'wanted');
  assert.deepEqual(entries, ['node-79/wanted']);
  assert.ok(sizes.length >= 3, `80 nodes take several bounded pages (${sizes.length})`);
});
