import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { coalesceRedisWrites } from '../src/redis-writes.ts';
import { startRedis, type RedisServer } from '../../../test/helpers/redis.ts';

let redis: RedisServer;

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis?.stop();
});

/** Counts the writes (write or writev) that reach the client's current socket. */
function countWrites(client: Redis): { count: number } {
  const socket = (client as unknown as { stream: Socket & { _write: Function; _writev: Function } }).stream;
  const counter = { count: 0 };
  for (const method of ['_write', '_writev'] as const) {
    const original = socket[method].bind(socket);
    socket[method] = (...args: unknown[]) => {
      counter.count++;
      return original(...args);
    };
  }
  return counter;
}

describe('coalesceRedisWrites', () => {
  test("a turn's commands leave in one write, and every reply comes back to its command", async () => {
    const client = new Redis(redis.url);
    coalesceRedisWrites(client);
    try {
      await client.ping();
      const writes = countWrites(client);
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => client.set(`k${i}`, String(i)).then(() => client.get(`k${i}`))));
      assert.deepEqual(replies, Array.from({ length: 20 }, (_, i) => String(i)));
      // 20 SETs in one turn, then the 20 GETs, sent as the SET replies come in (in one turn or a few).
      assert.ok(writes.count <= 4, `${writes.count} writes for 40 commands`);
    } finally {
      client.disconnect();
    }
  });

  test('a command sent before the connection goes out once connected; after a reconnect, commands still go out', async () => {
    const client = new Redis(redis.url, { lazyConnect: true });
    coalesceRedisWrites(client);
    try {
      assert.equal(await client.set('early', '1'), 'OK'); // queued until the connection is up
      client.disconnect(true); // a new socket replaces the one corked before
      assert.equal(await client.get('early'), '1');
      for (let turn = 0; turn < 3; turn++) assert.equal(await client.incr('turns'), turn + 1);
    } finally {
      client.disconnect();
    }
  });
});
