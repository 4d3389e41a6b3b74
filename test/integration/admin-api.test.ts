// The operations API (/api/v1, docs/api.md) of one real edge process in embedded mode, with
// real MQTT.js v5 clients: each endpoint, the token, pagination and filters, kicks seen by the
// client as DISCONNECT 0x98, and discarded sessions gone on reconnect. The cluster-wide
// answers (another node's clients) are checked in test/cluster/admin-api.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { IDisconnectPacket } from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { loadConfig, run } from '@roost/node';
import { AdminClient } from '../helpers/admin.ts';
import { closed, connackOf, connect, connectWithInbox, end, unique } from '../helpers/clients.ts';
import { NodeProcess } from '../helpers/cluster.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { freePort } from '../helpers/redis.ts';

const TOKEN = `admin-${unique('token')}`;
const WRONG_TOKEN = `${TOKEN.slice(0, -1)}x`;
const AdministrativeAction = 0x98;

let node: NodeProcess;
let api: AdminClient;
const clients: MqttClient[] = [];

before(async () => {
  const httpPort = await freePort();
  node = new NodeProcess(
    'admin-test',
    {
      ROOST_NODE_ID: 'admin-test',
      ROOST_HOST: '127.0.0.1',
      ROOST_MQTT_PORT: '0',
      ROOST_HTTP_PORT: String(httpPort),
      ROOST_SYS_INTERVAL: '0',
      // Debug, so that the log test sees every line the API could write.
      ROOST_LOG_LEVEL: 'debug',
      ROOST_ADMIN_TOKEN: TOKEN,
    },
    httpPort,
  );
  await node.ready();
  api = new AdminClient(httpPort, TOKEN);
});

after(async () => {
  await Promise.all(clients.map((client) => client.endAsync(true)));
  await node.stop();
});

async function client(clientId: string, options: Record<string, unknown> = {}): Promise<MqttClient> {
  const connected = await connect(node.url, { clientId, protocolVersion: 5, ...options });
  clients.push(connected);
  return connected;
}

/** The DISCONNECT the server sends the client, awaited before the close. */
function disconnectOf(mqttClient: MqttClient): Promise<IDisconnectPacket> {
  return new Promise((resolve) => mqttClient.once('disconnect', resolve));
}

test('a missing or wrong token gets 401 with no hint, on every path and method', async () => {
  const attempts: Array<[string, string, string | undefined]> = [
    ['GET', '/api/v1/clients', ''],
    ['GET', '/api/v1/clients', `Bearer ${WRONG_TOKEN}`],
    ['GET', '/api/v1/clients', `Bearer ${TOKEN.slice(0, -1)}`],
    ['GET', '/api/v1/clients', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`],
    ['GET', '/api/v1/nodes', `Bearer ${TOKEN} extra`],
    ['DELETE', '/api/v1/clients/anyone', `Bearer ${WRONG_TOKEN}`],
    ['GET', '/api/v1/no-such-path', `Bearer ${WRONG_TOKEN}`],
    ['POST', '/api/v1/clients', ''],
  ];
  for (const [method, path, authorization] of attempts) {
    const reply = await api.call(method, path, authorization);
    assert.equal(reply.status, 401, `${method} ${path} with ${JSON.stringify(authorization)}`);
    assert.deepEqual(reply.body, { error: 'unauthorized', status: 401 });
    assert.equal(reply.headers.get('www-authenticate'), 'Bearer');
  }
});

test('the API is off (404 on every method) without ROOST_ADMIN_TOKEN; a short token is refused at start without being printed', async () => {
  const httpPort = await freePort();
  const config = loadConfig([], { ROOST_HOST: '127.0.0.1', ROOST_MQTT_PORT: '0', ROOST_HTTP_PORT: String(httpPort), ROOST_LOG_LEVEL: 'silent', ROOST_SYS_INTERVAL: '0' });
  const off = await run(config);
  try {
    const plain = new AdminClient(off.httpPort, TOKEN);
    for (const method of ['GET', 'DELETE', 'POST']) assert.equal((await plain.call(method, '/api/v1/clients/x')).status, 404, method);
    assert.equal((await plain.get('/api/v1/nodes')).status, 404);
    assert.equal((await plain.get('/healthz')).status, 200, 'the rest of the HTTP port is unchanged');
  } finally {
    await off.stop();
  }
  const short = 'short-secret-15';
  assert.throws(() => loadConfig([], { ROOST_ADMIN_TOKEN: short }), (error: Error) => {
    assert.match(error.message, /ROOST_ADMIN_TOKEN: must be at least 16 characters/);
    assert.ok(!error.message.includes(short));
    return true;
  });
});

test('GET /api/v1/nodes: a single node lists itself with its connections', async () => {
  const id = unique('nodes');
  await client(id);
  const reply = await api.get('/api/v1/nodes');
  assert.equal(reply.status, 200);
  assert.equal(reply.body.nodes.length, 1);
  const [self] = reply.body.nodes;
  assert.equal(self.nodeId, 'admin-test');
  assert.equal(self.alive, true);
  assert.equal(self.self, true);
  assert.ok(self.connections >= 1, JSON.stringify(self));
  assert.ok(self.sessions >= self.connections);
});

test('GET /api/v1/clients/{id}: a connected client as its node sees it', async () => {
  const id = unique('describe');
  const subscriber = await client(id, { username: 'carol', keepalive: 42, properties: { sessionExpiryInterval: 300 } });
  await subscriber.subscribeAsync({ 'a/+/c': { qos: 1 }, 'b/#': { qos: 2, nl: true } });
  const reply = await api.get(`/api/v1/clients/${encodeURIComponent(id)}`);
  assert.equal(reply.status, 200);
  const view = reply.body;
  assert.equal(view.clientId, id);
  assert.equal(view.node, 'admin-test');
  assert.equal(view.connected, true);
  assert.equal(view.listener, 'mqtt');
  assert.match(view.address, /^127\.0\.0\.1:\d+$/);
  assert.equal(Number(view.address.split(':')[1]), (subscriber.stream as Socket).localPort);
  assert.equal(view.protocolVersion, 5);
  assert.equal(view.username, 'carol');
  assert.equal(view.keepAlive, 42);
  assert.equal(view.sessionExpiry, 300);
  assert.equal(view.queueLength, 0);
  assert.equal(view.inflight, 0);
  assert.ok(!Number.isNaN(Date.parse(view.connectedAt)));
  assert.deepEqual(
    view.subscriptions.map((s: { filter: string; qos: number; noLocal: boolean }) => [s.filter, s.qos, s.noLocal]),
    [['a/+/c', 1, false], ['b/#', 2, true]],
  );
});

test('GET /api/v1/clients/{id}: queue length of an offline session and in-flight count of a client that does not acknowledge', async () => {
  const offlineId = unique('offline');
  const sleeper = await client(offlineId, { clean: false, properties: { sessionExpiryInterval: 300 } });
  await sleeper.subscribeAsync('q/offline', { qos: 1 });
  await sleeper.endAsync();
  const slowId = unique('slow');
  const slow = await RawClient.open(node.mqttPort, 5);
  await slow.connect({ clientId: slowId });
  await slow.subscribe([{ topic: 'q/slow', qos: 1 }]);
  const publisher = await client(unique('pub'));
  for (const topic of ['q/offline', 'q/offline', 'q/slow']) await publisher.publishAsync(topic, 'm', { qos: 1 });
  await slow.next('publish'); // sent and never acknowledged
  const offline = (await api.get(`/api/v1/clients/${offlineId}`)).body;
  assert.equal(offline.connected, false);
  assert.equal(offline.queueLength, 2);
  assert.ok(!Number.isNaN(Date.parse(offline.disconnectedAt)));
  assert.equal(offline.address, undefined);
  const unacked = (await api.get(`/api/v1/clients/${slowId}`)).body;
  assert.equal(unacked.inflight, 1);
  slow.destroy();
});

test('GET /api/v1/clients/{id}: an unknown client is 404, an id with a slash is addressed percent-encoded', async () => {
  const missing = await api.get('/api/v1/clients/nobody-here');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { error: 'no client "nobody-here"', status: 404 });
  const id = `${unique('slash')}/dev ice?x=1`;
  await client(id);
  const found = await api.get(`/api/v1/clients/${encodeURIComponent(id)}`);
  assert.equal(found.status, 200);
  assert.equal(found.body.clientId, id);
});

test('GET /api/v1/clients: pages of at most `limit`, following `next` lists each client once, in order', async () => {
  const prefix = `${unique('page')}-`;
  const ids = Array.from({ length: 7 }, (_, i) => `${prefix}${i}`);
  for (const id of ids) await client(id);
  const { clients: listed, pages } = await api.allClients({ prefix, limit: '3' });
  assert.deepEqual(pages, [3, 3, 1]);
  assert.deepEqual(listed.map((c) => c.clientId), ids);
  assert.ok(listed.every((c) => c.connected === true && c.node === 'admin-test' && c.subscriptions === undefined));
  const exact = await api.get(`/api/v1/clients?${new URLSearchParams({ prefix, limit: '7' })}`);
  assert.equal(exact.body.next, null, 'a page that ends the listing has no next');
});

test('GET /api/v1/clients: filters by client id prefix and by user name', async () => {
  const prefix = `${unique('filter')}-`;
  await client(`${prefix}a`, { username: 'dave' });
  await client(`${prefix}b`, { username: 'erin' });
  await client(`${prefix}c`, { username: 'dave' });
  await client(unique('elsewhere'), { username: 'dave' });
  const byPrefix = await api.allClients({ prefix });
  assert.deepEqual(byPrefix.clients.map((c) => c.clientId), [`${prefix}a`, `${prefix}b`, `${prefix}c`]);
  const byUser = await api.allClients({ prefix, username: 'dave' });
  assert.deepEqual(byUser.clients.map((c) => [c.clientId, c.username]), [[`${prefix}a`, 'dave'], [`${prefix}c`, 'dave']]);
});

test('bad parameters get 400, a wrong method 405 with Allow, an unknown path 404, all as JSON', async () => {
  for (const query of ['limit=0', 'limit=1001', 'limit=abc', 'cursor=not-a-cursor', 'colour=blue', 'limit=1&limit=2']) {
    const reply = await api.get(`/api/v1/clients?${query}`);
    assert.equal(reply.status, 400, query);
    assert.equal(reply.body.status, 400);
    assert.equal(typeof reply.body.error, 'string');
  }
  assert.equal((await api.delete('/api/v1/clients/x?session=maybe')).status, 400);
  assert.equal((await api.get('/api/v1/clients/%E0%A4%A')).status, 400);
  const post = await api.call('POST', '/api/v1/clients');
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.deepEqual(post.body, { error: 'POST is not allowed here; use GET, HEAD', status: 405 });
  const put = await api.call('PUT', '/api/v1/clients/x');
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, HEAD, DELETE');
  assert.deepEqual((await api.get('/api/v1/sessions')).body, { error: 'not found', status: 404 });
  assert.equal((await api.get('/api/v2/clients')).status, 404);
});

test('DELETE /api/v1/clients/{id}: the client gets DISCONNECT 0x98 (Administrative action) and its session stays', async () => {
  const id = unique('kick');
  const kicked = await client(id, { clean: false, properties: { sessionExpiryInterval: 300 } });
  await kicked.subscribeAsync('kick/keep', { qos: 1 });
  const disconnect = disconnectOf(kicked);
  const reply = await api.delete(`/api/v1/clients/${id}`);
  assert.equal(reply.status, 200);
  assert.deepEqual(reply.body, { clientId: id, node: 'admin-test', disconnected: true, sessionDiscarded: false });
  assert.equal((await disconnect).reasonCode, AdministrativeAction);
  await closed(kicked);
  const after = (await api.get(`/api/v1/clients/${id}`)).body;
  assert.equal(after.connected, false);
  assert.deepEqual(after.subscriptions.map((s: { filter: string }) => s.filter), ['kick/keep']);
  const back = await client(id, { clean: false, properties: { sessionExpiryInterval: 300 } });
  assert.equal(connackOf(back).sessionPresent, true);
});

test('DELETE /api/v1/clients/{id}?session=true: kicked with 0x98, the session gone, a reconnect gets session present 0', async () => {
  const id = unique('discard');
  const kicked = await client(id, { clean: false, properties: { sessionExpiryInterval: 300 } });
  await kicked.subscribeAsync('discard/t', { qos: 1 });
  const disconnect = disconnectOf(kicked);
  const reply = await api.delete(`/api/v1/clients/${id}?session=true`);
  assert.deepEqual(reply.body, { clientId: id, node: 'admin-test', disconnected: true, sessionDiscarded: true });
  assert.equal((await disconnect).reasonCode, AdministrativeAction);
  assert.equal((await api.get(`/api/v1/clients/${id}`)).status, 404);
  const { client: back, inbox } = await connectWithInbox(node.url, { clientId: id, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } });
  clients.push(back);
  assert.equal(connackOf(back).sessionPresent, false);
  // Its subscription went with the session: what is published on its topic no longer reaches it.
  const publisher = await client(unique('pub'));
  const probe = unique('probe');
  await back.subscribeAsync(probe, { qos: 1 });
  await publisher.publishAsync('discard/t', 'x', { qos: 1 });
  await publisher.publishAsync(probe, 'marker', { qos: 1 });
  assert.deepEqual((await inbox.untilTopic(probe)).map((m) => m.topic), [probe]);
});

test('DELETE ?session=true publishes a will still waiting on its delay, as the end of a session does (MQTT 5 3.1.3.2.2)', async () => {
  const id = unique('will');
  const willTopic = `${unique('wills')}/gone`;
  const { client: watcher, inbox } = await connectWithInbox(node.url, { clientId: unique('watcher'), protocolVersion: 5 });
  clients.push(watcher);
  await watcher.subscribeAsync(willTopic, { qos: 1 });
  await client(id, { ...{ clean: false, properties: { sessionExpiryInterval: 300 } }, will: { topic: willTopic, payload: Buffer.from('bye'), qos: 1, retain: false, properties: { willDelayInterval: 300 } } });
  const reply = await api.delete(`/api/v1/clients/${id}?session=true`);
  assert.equal(reply.body.sessionDiscarded, true);
  assert.deepEqual(inbox.pairs(await inbox.untilTopic(willTopic)), [[willTopic, 'bye']]);
});

test('DELETE ?session=true on an offline session removes it; on an unknown client it is 404', async () => {
  const id = unique('offline-discard');
  const gone = await client(id, { clean: false, properties: { sessionExpiryInterval: 300 } });
  await end(gone);
  const reply = await api.delete(`/api/v1/clients/${id}?session=true`);
  assert.deepEqual(reply.body, { clientId: id, node: 'admin-test', disconnected: false, sessionDiscarded: true });
  assert.equal((await api.get(`/api/v1/clients/${id}`)).status, 404);
  assert.equal((await api.delete(`/api/v1/clients/${id}`)).status, 404);
});

test('the token never reaches the logs, the right one nor a wrong one', async () => {
  await api.get('/api/v1/clients');
  await api.call('GET', '/api/v1/clients', `Bearer ${WRONG_TOKEN}`);
  const everything = node.tail(Number.MAX_SAFE_INTEGER);
  assert.ok(node.lines.length > 10, 'the node logged something to look through');
  assert.ok(node.lines.some((line) => line.msg === 'admin API: client kicked'), 'admin actions are logged');
  for (const secret of [TOKEN, WRONG_TOKEN, TOKEN.slice(6)]) assert.ok(!everything.includes(secret), `${secret} in the logs`);
});
