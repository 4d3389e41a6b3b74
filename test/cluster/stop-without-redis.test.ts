// A node told to stop while its Redis is unreachable still stops cleanly: the drain, the
// flush and the leave fail as far as they must, are logged, and the process exits 0 instead
// of ending on an unhandled error (the others reap it once its heartbeat lapses).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, type NodeProcess } from '../helpers/cluster.ts';
import { unique } from '../helpers/clients.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

let redis: RedisServer | undefined;
let node: NodeProcess | undefined;

after(async () => {
  await node?.kill();
  await redis?.stop();
});

test('SIGTERM with Redis gone: the node logs that it could not leave the registry and exits 0', { timeout: 60_000 }, async () => {
  redis = await startRedis();
  node = await startNode(redis.url, `${unique('stop')}:`);
  await redis.stop();
  redis = undefined;
  await node.waitLog((line) => line.msg === 'redis connection lost; serving local clients, reconnecting');
  await node.stop();
  assert.equal(await node.exited, 0, node.tail());
  assert.ok(node.lines.some((line) => line.msg === 'could not leave the node registry; the other nodes reap this one when its heartbeat lapses'), node.tail());
});
