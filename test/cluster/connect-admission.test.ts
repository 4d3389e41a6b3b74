// A cluster node resolves a bounded number of CONNECTs at once (ROOST_CONNECT_CONCURRENCY):
// what hundreds waiting on Redis hold would otherwise outlive scavenges. One that waits on
// another node to hand its session over gives its place up first: when a node is stalled (or
// dies) its clients reconnect elsewhere all at once, and each of them takes over from it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startNode, type NodeProcess } from '../helpers/cluster.ts';
import { connect, unique } from '../helpers/clients.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

let redis: RedisServer | undefined;
const nodes: NodeProcess[] = [];
const clients: MqttClient[] = [];

after(async () => {
  for (const node of nodes) node.child.kill('SIGCONT');
  for (const client of clients) client.end(true);
  await Promise.all(nodes.map((node) => node.kill()));
  await redis?.stop();
});

test('a CONNECT waiting on a stalled holder for its session does not hold up the other CONNECTs of a node that resolves one at a time', { timeout: 60_000 }, async () => {
  redis = await startRedis();
  const prefix = `${unique('admission')}:`;
  // The holder stays alive in the registry for 20 s after it stops: the taker keeps asking it.
  const holder = await startNode(redis.url, prefix, { ROOST_NODE_TIMEOUT: '20000' });
  nodes.push(holder);
  const taker = await startNode(redis.url, prefix, { ROOST_CONNECT_CONCURRENCY: '1' });
  nodes.push(taker);
  const clientId = unique('stalled');
  clients.push(await connect(holder.url, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } }));
  holder.child.kill('SIGSTOP');

  let moved = false;
  const moving = connect(taker.url, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 }, connectTimeout: 30_000 });
  moving.then((client) => ((moved = true), clients.push(client)), () => (moved = true));
  // The taker's first takeover call to the stalled holder has timed out; it asks again.
  await taker.waitLog((line) => line.msg === 'takeover call failed; asking again while the holder is alive' && line.clientId === clientId, 20_000);

  const other = await connect(taker.url, { clientId: unique('other'), connectTimeout: 5_000 });
  clients.push(other);
  assert.equal(moved, false, 'the other client got its CONNACK only after the takeover ended');
});
