// The shipped deploy/haproxy/haproxy.cfg, with only its addresses substituted (the bind
// address, the certificate path, static servers for the server-template), run by Debian's
// HAProxy in front of 3 nodes on one Redis (ROOST_PROXY_PROTOCOL=mqtt): TLS terminated,
// clients balanced by client id, a non-MQTT first packet refused before any node sees it,
// and a drained then a killed node under QoS 1 load without losing an acknowledged message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ReasonCode } from '@roost/protocol';
import { TestCa } from '../../scripts/lib/certs.ts';
import { AckLedger, SteadyPublisher } from '../helpers/ack-ledger.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { startCluster, type LogLine, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { SHIPPED, substitute, unchanged, type Substituted } from '../helpers/haproxy-config.ts';
import { spawnHaproxy, stopProcess } from '../helpers/haproxy.ts';
import { freePort } from '../helpers/redis.ts';

const run = promisify(execFile);
/** Longer than HAProxy's inter 2s x fall 2, so it marks the draining node down before it lets its clients go. */
const DRAIN_DELAY_S = 5;

let ca: TestCa;
let dir: string;
let cluster: TestCluster;
let haproxy: { child: import('node:child_process').ChildProcess; output: () => string } | undefined;
let frontendPort: number;
let substituted: Substituted;
let caPem: Buffer;

before(async () => {
  ca = new TestCa();
  const server = ca.server();
  dir = await mkdtemp(join(tmpdir(), 'roost-haproxy-cluster-'));
  const pem = join(dir, 'mqtt-server.pem');
  await writeFile(pem, `${await readFile(server.certFile, 'utf8')}\n${await readFile(server.keyFile, 'utf8')}`);
  caPem = await readFile(ca.caFile);
  cluster = await startCluster(3, {
    env: { ROOST_PROXY_PROTOCOL: 'mqtt', ROOST_DRAIN_DELAY: String(DRAIN_DELAY_S), ROOST_DRAIN_RATE: '100', ROOST_MAX_QUEUED_MESSAGES: '1000000' },
  });
  frontendPort = await freePort();
  substituted = await substitute(SHIPPED.terminating, {
    bind: { host: '127.0.0.1', port: frontendPort },
    certFile: pem,
    servers: cluster.nodes.map((node) => ({ port: node.mqttPort, httpPort: node.httpPort })),
  });
  const configFile = join(dir, 'haproxy.cfg');
  await writeFile(configFile, substituted.config);
  haproxy = await spawnHaproxy(configFile);
});

after(async () => {
  if (haproxy) await stopProcess(haproxy.child);
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  ca?.remove();
});

function tlsOptions(clientId: string, extra: IClientOptions = {}): IClientOptions {
  return { clientId, protocolVersion: 5, ca: caPem, servername: 'localhost', ...extra };
}

const url = () => `mqtts://127.0.0.1:${frontendPort}`;

/** Every "client connected" line of `clientId` across the nodes, in time order, as the node it was on. */
function connections(clientId: string): Array<{ node: NodeProcess; line: LogLine }> {
  return cluster.nodes
    .flatMap((node) => node.lines.filter((line) => line.msg === 'client connected' && line.clientId === clientId).map((line) => ({ node, line })))
    .sort((x, y) => (x.line.time as number) - (y.line.time as number));
}

/** The node of `clientId`'s `n`th connection (1-based), awaiting its log line. */
async function nthNode(clientId: string, n: number): Promise<NodeProcess> {
  const seen = () => connections(clientId);
  if (seen().length < n) {
    await Promise.any(cluster.nodes.map((node) => node.waitLog((line) => line.msg === 'client connected' && line.clientId === clientId && seen().length >= n, 10_000)));
  }
  return seen()[n - 1]!.node;
}

test('haproxy -c accepts both shipped files with only their addresses substituted; nothing else differs', async () => {
  assert.deepEqual(
    substituted.changes.map((c) => c.from.trim().split(' ')[0]),
    ['bind', 'server-template'],
    'the bind line (address and certificate) and the server-template line only',
  );
  const { shipped, config } = unchanged(substituted);
  assert.deepEqual(config, shipped);
  assert.ok(substituted.changes[1]!.to.every((line) => /^\s*server roost\d 127\.0\.0\.1:\d+ port \d+$/.test(line)));
  await run('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')]);

  const passthrough = await substitute(SHIPPED.passthrough, { bind: { host: '127.0.0.1', port: frontendPort }, servers: cluster.nodes.map((node) => ({ port: node.mqttPort, httpPort: node.httpPort })) });
  const rest = unchanged(passthrough);
  assert.deepEqual(rest.config, rest.shipped);
  const file = join(dir, 'haproxy-passthrough.cfg');
  await writeFile(file, passthrough.config);
  await run('haproxy', ['-c', '-f', file]);
});

test('over TLS through HAProxy: the node sees the client\'s own address (PROXY v2), and a message crosses from one node to another', async () => {
  // Client ids hash to nodes: take ids until the publisher lands on another node than the subscriber.
  const subId = unique('sub');
  const sub = await connect(url(), tlsOptions(subId));
  const subNode = await nthNode(subId, 1);
  const subPort = (sub.stream as TLSSocket).localPort;
  assert.equal(connections(subId)[0]!.line.remote, `127.0.0.1:${subPort}`, 'the client\'s address, not HAProxy\'s');
  const inbox = new Inbox(sub);
  const topic = unique('cross');
  await sub.subscribeAsync(topic, { qos: 1 });
  let pub: MqttClient | undefined;
  let pubNode: NodeProcess | undefined;
  for (let i = 0; i < 20 && pubNode === undefined; i++) {
    const id = unique('pub');
    const client = await connect(url(), tlsOptions(id));
    if ((await nthNode(id, 1)) !== subNode) [pub, pubNode] = [client, await nthNode(id, 1)];
    else await end(client);
  }
  assert.ok(pub && pubNode, 'some client id of 20 lands on another node');
  try {
    // The subscription reaches the other node through Redis a moment after SUBACK.
    for (let i = 0; i < 100 && inbox.messages.length === 0; i++) {
      await pub.publishAsync(topic, 'across', { qos: 1 });
      await inbox.waitFor(1, 100).catch(() => undefined);
    }
    assert.equal(inbox.messages[0]?.payload.toString(), 'across', `from ${pubNode.nodeId} to ${subNode.nodeId}`);
  } finally {
    await end(sub, pub);
  }
});

test('a client id comes back to the same node at every reconnect (balance hash on the CONNECT\'s client identifier), and ids spread over the nodes', async () => {
  const id = unique('sticky');
  for (let i = 1; i <= 4; i++) await end(await connect(url(), tlsOptions(id)));
  const nodes = await Promise.all([1, 2, 3, 4].map((n) => nthNode(id, n)));
  assert.equal(new Set(nodes.map((n) => n.nodeId)).size, 1, nodes.map((n) => n.nodeId).join(' '));

  const ids = Array.from({ length: 12 }, () => unique('spread'));
  await Promise.all(ids.map(async (other) => end(await connect(url(), tlsOptions(other)))));
  const spread = new Set((await Promise.all(ids.map((other) => nthNode(other, 1)))).map((n) => n.nodeId));
  assert.ok(spread.size >= 2, `12 client ids on ${spread.size} node(s)`);
});

test('a first packet that is no MQTT CONNECT is refused by HAProxy: the connection closes unanswered and no node accepts a connection', async () => {
  const accepted = async () => {
    let sum = 0;
    for (const node of cluster.nodes) {
      const text = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
      sum += Number(/^roost_connections_accepted_total (\d+)/m.exec(text)![1]);
    }
    return sum;
  };
  const before = await accepted();
  const socket = tlsConnect({ host: '127.0.0.1', port: frontendPort, ca: caPem, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  let answer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (answer = Buffer.concat([answer, chunk])));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.write('GET /mqtt HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await closed;
  assert.equal(answer.length, 0, 'nothing sent back');
  assert.equal(await accepted(), before, 'no node accepted a connection');
  await until(() => / mqtts~ mqtts\/<NOSRV> .* PR /.test(haproxy!.output()), 5_000);
});

/** For HAProxy's log and where clients are, which no event announces to this process. */
async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms; HAProxy's log:\n${haproxy!.output().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('one node drained (SIGTERM, ROOST_DRAIN_DELAY 5 s) then another killed (SIGKILL) under QoS 1 load: persistent clients reconnect through HAProxy and no acknowledged message is lost', { timeout: 60_000 }, async (t) => {
  const subNames = ['sub0', 'sub1', 'sub2', 'sub3'];
  const ledger = new AckLedger(subNames);
  const clients: Array<{ name: string; id: string; client: MqttClient; disconnects: number[] }> = [];
  const publishers: SteadyPublisher[] = [];
  t.after(async () => {
    for (const p of publishers) p.stop();
    await Promise.all(clients.map(({ client }) => new Promise<void>((resolve) => client.end(true, {}, () => resolve()))));
  });
  const base = unique('load');
  const open = async (name: string, options: IClientOptions) => {
    const id = unique(`ha-${name}`);
    // Reconnects through HAProxy on its own, with its stores, as a device would.
    const client = mqtt.connect(url(), { ...tlsOptions(id, options), reconnectPeriod: 200, connectTimeout: 5_000 });
    const entry = { name, id, client, disconnects: [] as number[] };
    client.on('disconnect', (packet) => entry.disconnects.push(packet.reasonCode ?? 0));
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    clients.push(entry);
    return entry;
  };
  for (const name of subNames) {
    const { client } = await open(name, { clean: false, properties: { sessionExpiryInterval: 3_600 }, resubscribe: false });
    client.on('message', (topic, payload) => topic.startsWith(`${base}/data/`) && ledger.receive(name, payload.toString()));
    await client.subscribeAsync(`${base}/#`, { qos: 1 });
  }
  for (const name of ['pub0', 'pub1', 'pub2']) {
    const { client } = await open(name, {});
    publishers.push(new SteadyPublisher(client, name, `${base}/data/${name}`, ledger, 40, () => client.connected));
  }
  // Until every publisher's messages reach every subscriber (routes spread through Redis).
  const probeSeen = new Map(subNames.map((name) => [name, new Set<string>()]));
  for (const { name, client } of clients.slice(0, subNames.length)) client.on('message', (topic, payload) => topic === `${base}/probe` && (probeSeen.get(name)!.add(payload.toString()), ledger.notify()));
  const probing = setInterval(() => clients.slice(subNames.length).forEach(({ name, client }) => client.publish(`${base}/probe`, name, { qos: 0 })), 50);
  const routed = await ledger.until(() => [...probeSeen.values()].every((seen) => seen.size === 3), 10_000);
  clearInterval(probing);
  assert.ok(routed, 'every subscriber routed from every publisher');

  const holders = () => {
    const count = new Map<NodeProcess, number>();
    for (const { id } of clients) {
      const last = connections(id).at(-1)!.node;
      count.set(last, (count.get(last) ?? 0) + 1);
    }
    return [...count].sort(([, x], [, y]) => y - x).map(([node]) => node);
  };
  for (const p of publishers) p.start();
  const report: string[] = [];

  const drained = holders()[0]!;
  drained.child.kill('SIGTERM');
  await drained.waitLog((line) => line.msg === 'draining: not ready, still serving');
  // HAProxy marks it down within inter x fall = 4 s of /readyz turning 503, inside the delay.
  await until(() => haproxy!.output().includes(`roost/roost${cluster.nodes.indexOf(drained) + 1} is DOWN`), 8_000);
  assert.equal(await drained.exited, 0, 'the drained node exits 0');
  report.push(`drained ${drained.nodeId}`);

  // Let the clients settle on the two nodes left, then kill the busier one.
  await Promise.all(clients.map(({ client }) => (client.connected ? undefined : new Promise<void>((resolve) => client.once('connect', () => resolve())))));
  const killed = holders().find((node) => node !== drained)!;
  await killed.kill();
  report.push(`killed ${killed.nodeId}`);
  const survivor = cluster.nodes.find((node) => node !== drained && node !== killed)!;
  // Every client back, on the survivor (HAProxy retries past the dead node until its checks fail).
  await until(() => clients.every(({ id, client }) => client.connected && connections(id).at(-1)!.node === survivor), 15_000);
  const ackedThen = ledger.acked.size;
  await ledger.until(() => ledger.acked.size >= ackedThen + 50, 10_000); // the survivor alone under load for a moment
  for (const p of publishers) p.stop();

  const complete = await ledger.until(() => ledger.complete(), 20_000);
  report.push(ledger.report('haproxy'));
  for (const c of clients) report.push(`${c.name}: on ${connections(c.id).map((x) => x.node.nodeId).join(' -> ')}, DISCONNECTs ${c.disconnects.map((rc) => `0x${rc.toString(16)}`).join(' ') || 'none'}`);
  t.diagnostic(report.join('\n'));
  assert.ok(complete, `every acknowledged message at every subscriber\n${report.join('\n')}`);
  assert.ok(ledger.acked.size > 200, `${ledger.acked.size} acknowledged: the load ran`);
  assert.ok(clients.some((c) => c.disconnects.includes(ReasonCode.ServerShuttingDown)), 'the drained node\'s clients were told 0x8B');
});
