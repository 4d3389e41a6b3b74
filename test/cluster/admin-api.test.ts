// The operations API (docs/api.md) across a 3-node cluster on a real Redis: one node answers
// for clients anywhere. Listing spans the nodes; a client connected on another node is
// described by that node and kicked through it (its client sees DISCONNECT 0x98); a session
// held offline elsewhere is discarded there; a session whose holder is not alive is read from
// Redis; a dead node's session is described and discarded through the survivor that adopted it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { IDisconnectPacket } from 'mqtt-packet';
import { Redis } from 'ioredis';
import { RedisSessionDirectory } from '@roost/store-redis';
import { AdminClient } from '../helpers/admin.ts';
import { connackOf, connect, connectWithInbox, end, unique } from '../helpers/clients.ts';
import { startCluster, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';

const TOKEN = `cluster-admin-${unique('token')}`;
const AdministrativeAction = 0x98;
const PERSISTENT = { clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 600 } } as const;

let cluster: TestCluster;
/** The node every request goes to; the clients sit on the other two. */
let a: NodeProcess;
let b: NodeProcess;
let c: NodeProcess;
let api: AdminClient;
const clients: MqttClient[] = [];

before(async () => {
  cluster = await startCluster(3, { env: { ROOST_ADMIN_TOKEN: TOKEN } });
  [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
  api = new AdminClient(a.httpPort, TOKEN);
});

after(async () => {
  await Promise.all(clients.map((client) => client.endAsync(true)));
  await cluster.stop();
});

async function client(node: NodeProcess, clientId: string, options: Record<string, unknown> = {}): Promise<MqttClient> {
  const connected = await connect(node.url, { clientId, protocolVersion: 5, ...options });
  clients.push(connected);
  return connected;
}

test('GET /api/v1/nodes lists the three nodes alive, with this node\'s own connections', async () => {
  const reply = await api.get('/api/v1/nodes');
  assert.equal(reply.status, 200);
  const nodes = reply.body.nodes as Array<{ nodeId: string; address: string; alive: boolean; self: boolean; connections?: number }>;
  assert.deepEqual(nodes.map((n) => n.nodeId).sort(), [a.nodeId, b.nodeId, c.nodeId].sort());
  assert.ok(nodes.every((n) => n.alive && /^127\.0\.0\.1:\d+$/.test(n.address)), JSON.stringify(nodes));
  assert.deepEqual(nodes.filter((n) => n.self).map((n) => n.nodeId), [a.nodeId]);
  assert.equal(typeof nodes.find((n) => n.self)!.connections, 'number');
});

test('GET /api/v1/clients lists the clients of every node, paged, each with its node, filtered by user name', async () => {
  const prefix = `${unique('list')}-`;
  const placed = new Map<string, string>();
  for (const [i, node] of [a, b, c, b, c, a].entries()) {
    const id = `${prefix}${i}`;
    await client(node, id, { username: i % 2 === 0 ? 'frank' : 'grace' });
    placed.set(id, node.nodeId);
  }
  const { clients: listed, pages } = await api.allClients({ prefix, limit: '2' });
  assert.ok(pages.every((size) => size <= 2), String(pages));
  assert.deepEqual(new Map(listed.map((view) => [view.clientId, view.node])), placed);
  assert.equal(listed.length, placed.size, 'each client once');
  assert.ok(listed.every((view) => view.connected === true), JSON.stringify(listed));
  const order = listed.map((view) => `${view.node}\0${view.clientId}`);
  assert.deepEqual(order, [...order].sort(), 'by node, then client id');
  const frank = await api.allClients({ prefix, username: 'frank' });
  assert.deepEqual(frank.clients.map((view) => view.clientId).sort(), [`${prefix}0`, `${prefix}2`, `${prefix}4`]);
});

test('GET /api/v1/clients/{id} of a client connected on another node: that node\'s answer', async () => {
  const id = unique('remote');
  const remote = await client(b, id, { username: 'heidi', keepalive: 33, properties: { sessionExpiryInterval: 120 } });
  await remote.subscribeAsync({ 'r/+': { qos: 1 }, 'r/x/#': { qos: 2 } });
  const reply = await api.get(`/api/v1/clients/${id}`);
  assert.equal(reply.status, 200);
  const view = reply.body;
  assert.equal(view.node, b.nodeId);
  assert.equal(view.connected, true);
  assert.equal(view.listener, 'mqtt');
  assert.match(view.address, /^127\.0\.0\.1:\d+$/);
  assert.equal(view.protocolVersion, 5);
  assert.equal(view.username, 'heidi');
  assert.equal(view.keepAlive, 33);
  assert.equal(view.sessionExpiry, 120);
  assert.equal(view.queueLength, 0);
  assert.equal(view.inflight, 0);
  assert.deepEqual(view.subscriptions.map((s: { filter: string; qos: number }) => [s.filter, s.qos]), [['r/+', 1], ['r/x/#', 2]]);
});

test('DELETE /api/v1/clients/{id} on one node kicks a client connected on another: it sees DISCONNECT 0x98', async () => {
  const id = unique('kick');
  const kicked = await client(c, id, PERSISTENT);
  const disconnect = new Promise<IDisconnectPacket>((resolve) => kicked.once('disconnect', resolve));
  const reply = await api.delete(`/api/v1/clients/${id}`);
  assert.equal(reply.status, 200);
  assert.deepEqual(reply.body, { clientId: id, node: c.nodeId, disconnected: true, sessionDiscarded: false });
  assert.equal((await disconnect).reasonCode, AdministrativeAction);
  const after = (await api.get(`/api/v1/clients/${id}`)).body;
  assert.equal(after.connected, false, 'its session stays, offline');
  assert.equal(after.node, c.nodeId);
});

test('a session held offline on another node: described with its queue, then discarded there; a reconnect elsewhere gets session present 0', async () => {
  const id = unique('offline');
  const sleeper = await client(b, id, PERSISTENT);
  await sleeper.subscribeAsync('off/t', { qos: 1 });
  await end(sleeper);
  const publisher = await client(a, unique('pub'));
  await publisher.publishAsync('off/t', 'one', { qos: 1 });
  await publisher.publishAsync('off/t', 'two', { qos: 1 });
  const offline = (await api.get(`/api/v1/clients/${id}`)).body;
  assert.equal(offline.node, b.nodeId);
  assert.equal(offline.connected, false);
  assert.equal(offline.queueLength, 2);
  assert.ok(!Number.isNaN(Date.parse(offline.disconnectedAt)));
  const reply = await api.delete(`/api/v1/clients/${id}?session=true`);
  assert.deepEqual(reply.body, { clientId: id, node: b.nodeId, disconnected: false, sessionDiscarded: true });
  assert.equal((await api.get(`/api/v1/clients/${id}`)).status, 404);
  // Its routes went too: a new session on its topic gets only what is published from now on.
  const { client: back, inbox } = await connectWithInbox(c.url, { clientId: id, ...PERSISTENT });
  clients.push(back);
  assert.equal(connackOf(back).sessionPresent, false);
  await back.subscribeAsync('off/t', { qos: 1 });
  await publisher.publishAsync('off/t', 'after', { qos: 1 }); // SUBACK means routed (docs/cluster.md)
  await inbox.untilTopic('off/t');
  assert.deepEqual(inbox.pairs(), [['off/t', 'after']], 'none of the discarded queue');
});

test('a session whose holder is not alive is described from Redis; discarding it waits for an adopter (503)', async () => {
  const id = unique('ghost');
  const sleeper = await client(b, id, PERSISTENT);
  await sleeper.subscribeAsync('ghost/t', { qos: 1 });
  await end(sleeper);
  // The directory names a holder the registry does not know, as it does between a node's
  // death and its reap (which a real death makes too short to test against).
  const redis = new Redis(cluster.redis.url);
  try {
    await new RedisSessionDirectory(redis, cluster.prefix).claim(id, 'ghost-node');
  } finally {
    redis.disconnect();
  }
  const described = await api.get(`/api/v1/clients/${id}`);
  assert.equal(described.status, 200, JSON.stringify(described.body));
  assert.equal(described.body.node, 'ghost-node');
  assert.equal(described.body.connected, false);
  assert.deepEqual(described.body.subscriptions.map((s: { filter: string }) => s.filter), ['ghost/t']);
  assert.ok(!Number.isNaN(Date.parse(described.body.disconnectedAt)));
  const listed = await api.allClients({ prefix: id });
  assert.deepEqual(listed.clients, [{ clientId: id, node: 'ghost-node', nodeAlive: false }]);
  const discard = await api.delete(`/api/v1/clients/${id}?session=true`);
  assert.equal(discard.status, 503);
  assert.equal(discard.body.status, 503);
  assert.match(discard.body.error, /^ghost-node: holds the session and is not alive/);
});

test('a session whose node died: described and discarded through the survivor that adopted it', async () => {
  const id = unique('orphan');
  const sleeper = await client(c, id, PERSISTENT);
  await sleeper.subscribeAsync('orphan/t', { qos: 1 });
  await end(sleeper);
  const deadId = c.nodeId;
  await c.kill();
  const reaper = await Promise.any([a, b].map((node) => node.waitLog((line) => line.msg === 'reaped dead node' && line.deadNode === deadId)));
  const adopter = String(reaper.node);
  const described = (await api.get(`/api/v1/clients/${id}`)).body;
  assert.equal(described.node, adopter);
  assert.equal(described.connected, false);
  assert.deepEqual(described.subscriptions.map((s: { filter: string }) => s.filter), ['orphan/t']);
  const nodes = (await api.get('/api/v1/nodes')).body.nodes as Array<{ nodeId: string }>;
  assert.ok(!nodes.some((node) => node.nodeId === deadId), 'a reaped node is no longer listed');
  const reply = await api.delete(`/api/v1/clients/${id}?session=true`);
  assert.deepEqual(reply.body, { clientId: id, node: adopter, disconnected: false, sessionDiscarded: true });
  assert.equal((await api.get(`/api/v1/clients/${id}`)).status, 404);
});
