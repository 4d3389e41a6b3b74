// /metrics of a real edge process (embedded mode, a password file and an ACL file) as Prometheus
// reads it: each metric an operator looks for first moves when its event happens, and the
// whole exposition passes Debian's `promtool check metrics`. The cluster-mode metrics (forward,
// Redis, node count) are checked against a 3-node cluster in test/e2e/prometheus.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { closed, connect, connectWithInbox, drop, end, unique } from '../helpers/clients.ts';
import { NodeProcess } from '../helpers/cluster.ts';
import { Scrape, promtool, scrapeText, untilScrape } from '../helpers/metrics.ts';
import { RawClient, serverClose } from '../helpers/raw-client.ts';
import { freePort } from '../helpers/redis.ts';

const PASSWORD = { alice: 'alice-metrics-pw', bob: 'bob-metrics-pw' };
// alice may not read or write m/secret; bob may do anything.
const ACL = `user alice
topic readwrite m/#
topic deny m/secret

user bob
topic readwrite #
`;
const MAX_QUEUED = 2;

let dir: string;
let node: NodeProcess;
let url: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roost-metrics-'));
  const passwordFile = join(dir, 'passwd');
  const aclFile = join(dir, 'acl');
  execFileSync('mosquitto_passwd', ['-c', '-b', passwordFile, 'alice', PASSWORD.alice]);
  execFileSync('mosquitto_passwd', ['-b', passwordFile, 'bob', PASSWORD.bob]);
  writeFileSync(aclFile, ACL);
  const httpPort = await freePort();
  node = new NodeProcess(
    'metrics-test',
    {
      ROOST_NODE_ID: 'metrics-test',
      ROOST_HOST: '127.0.0.1',
      ROOST_MQTT_PORT: '0',
      ROOST_HTTP_PORT: String(httpPort),
      ROOST_SYS_INTERVAL: '0',
      ROOST_LOG_LEVEL: 'info',
      ROOST_PASSWORD_FILE: passwordFile,
      ROOST_ACL_FILE: aclFile,
      ROOST_MAX_QUEUED_MESSAGES: String(MAX_QUEUED),
    },
    httpPort,
  );
  await node.ready();
  url = node.url;
});

after(async () => {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

function as(user: keyof typeof PASSWORD, options: IClientOptions = {}): Promise<MqttClient> {
  return connect(url, { protocolVersion: 5, clientId: unique(user), username: user, password: PASSWORD[user], ...options });
}

const scrape = () => Scrape.of(node.httpPort);
const dropped = (s: Scrape, reason: string) => s.value('roost_messages_dropped_total', { reason });

/** A v5 session that outlives its connection, subscribed to `filter` at QoS 1, then offline. */
async function offlineSubscriber(filter: string, options: IClientOptions = {}): Promise<string> {
  const clientId = unique('offline');
  const client = await as('alice', { clientId, clean: false, properties: { sessionExpiryInterval: 300 }, ...options });
  await client.subscribeAsync(filter, { qos: 1 });
  await end(client);
  return clientId;
}

test('roost_messages_dropped_total{reason="no_subscribers"}: a PUBLISH no subscription matches; a retained one is kept, not dropped', async () => {
  const pub = await as('alice');
  const before = dropped(await scrape(), 'no_subscribers');
  await pub.publishAsync(`m/${unique('nobody')}`, 'x', { qos: 1 });
  assert.equal(dropped(await scrape(), 'no_subscribers'), before + 1);
  await pub.publishAsync(`m/${unique('kept')}`, 'x', { qos: 1, retain: true });
  assert.equal(dropped(await scrape(), 'no_subscribers'), before + 1);
  await end(pub);
});

test('roost_retained_messages counts what is retained and falls when a retained message is cleared', async () => {
  const pub = await as('alice');
  const topic = `m/${unique('retained')}`;
  const before = (await scrape()).value('roost_retained_messages');
  await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });
  assert.equal((await scrape()).value('roost_retained_messages'), before + 1);
  await pub.publishAsync(topic, '', { qos: 1, retain: true }); // [MQTT-3.3.1-6] an empty payload clears
  assert.equal((await scrape()).value('roost_retained_messages'), before);
  await end(pub);
});

test('roost_messages_dropped_total{reason="queue_full"}, roost_sessions{state="offline"} and roost_session_queued_messages: an offline session past ROOST_MAX_QUEUED_MESSAGES', async () => {
  const filter = `m/${unique('queue')}`;
  const start = await scrape();
  const clientId = await offlineSubscriber(filter);
  const pub = await as('alice');
  for (let i = 0; i < MAX_QUEUED + 1; i++) await pub.publishAsync(filter, `m${i}`, { qos: 1 });
  const s = await scrape();
  assert.equal(dropped(s, 'queue_full'), dropped(start, 'queue_full') + 1);
  assert.equal(s.value('roost_sessions', { state: 'offline' }), start.value('roost_sessions', { state: 'offline' }) + 1);
  assert.ok(s.value('roost_sessions', { state: 'connected' }) >= 1, 'the publisher');
  assert.equal(s.value('roost_sessions', { state: 'connected' }), s.value('roost_clients_connected'), 'every connected client has its session here');
  // Sampled at most once a second: scrape until a sample has seen the full queue (le="1" excludes it, le="5" holds it).
  const full = (x: Scrape) => x.value('roost_session_queued_messages_bucket', { le: '5' }) - x.value('roost_session_queued_messages_bucket', { le: '1' });
  const before = full(start);
  await untilScrape(node.httpPort, (x) => full(x) > before);
  await end(pub);
  await end(await as('alice', { clientId, clean: true })); // ends the session
});

test('roost_messages_dropped_total{reason="expired"}: a queued message whose Message Expiry Interval passed [MQTT-3.3.2-5]', async () => {
  const filter = `m/${unique('expiry')}`;
  const clientId = await offlineSubscriber(filter);
  const pub = await as('alice');
  await pub.publishAsync(filter, 'short-lived', { qos: 1, properties: { messageExpiryInterval: 1 } });
  await end(pub);
  const before = dropped(await scrape(), 'expired');
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // the expiry is time passing: nothing to await but the clock
  const { client, inbox } = await connectWithInbox(url, { protocolVersion: 5, clientId, username: 'alice', password: PASSWORD.alice, clean: false, properties: { sessionExpiryInterval: 0 } });
  await untilScrape(node.httpPort, (s) => dropped(s, 'expired') === before + 1);
  assert.equal(inbox.messages.length, 0, 'the expired message is not sent');
  await end(client);
});

test('roost_messages_dropped_total{reason="too_large"}: a PUBLISH above the subscriber\'s Maximum Packet Size [MQTT-3.1.2-25]', async () => {
  const topic = `m/${unique('large')}`;
  const sub = await as('alice', { properties: { maximumPacketSize: 256 } });
  await sub.subscribeAsync(topic, { qos: 1 });
  const pub = await as('alice');
  const before = dropped(await scrape(), 'too_large');
  await pub.publishAsync(topic, randomBytes(1024), { qos: 1 });
  assert.equal(dropped(await scrape(), 'too_large'), before + 1);
  await end(pub, sub);
});

test('roost_messages_dropped_total{reason="acl"}: a PUBLISH the publisher\'s rules refuse', async () => {
  const pub = await as('alice');
  const before = dropped(await scrape(), 'acl');
  await pub.publishAsync('m/secret', 'x', { qos: 1 }).catch(() => undefined); // PUBACK 0x87 Not authorized
  assert.equal(dropped(await scrape(), 'acl'), before + 1);
  await end(pub);
});

test('roost_messages_dropped_total{reason="acl"}: a delivery the subscriber\'s rules refuse', async () => {
  const sub = await as('alice');
  await sub.subscribeAsync('m/#', { qos: 1 }); // allowed: it matches topics alice may read
  const pub = await as('bob');
  const before = dropped(await scrape(), 'acl');
  await pub.publishAsync('m/secret', 'x', { qos: 1 });
  assert.equal(dropped(await scrape(), 'acl'), before + 1);
  await end(pub, sub);
});

test('roost_messages_dropped_total{reason="slow_consumer"}: QoS 0 to a subscriber that stopped reading, past the backlog limit', async () => {
  const topic = `m/${unique('slow')}`;
  const slow = await as('alice');
  await slow.subscribeAsync(topic, { qos: 0 });
  slow.stream.pause(); // the node's writes back up in its socket
  const pub = await as('alice');
  const payload = randomBytes(256 * 1024);
  const before = dropped(await scrape(), 'slow_consumer');
  // At most 64 MiB: past the 4 MiB backlog limit and what the kernel buffers, drops start.
  let now = before;
  for (let i = 0; i < 256 && now === before; i++) {
    await pub.publishAsync(topic, payload, { qos: 1 }); // QoS 1 from the publisher: each is routed before the next
    if (i % 8 === 7) now = dropped(await scrape(), 'slow_consumer');
  }
  assert.ok(dropped(await scrape(), 'slow_consumer') > before);
  slow.end(true);
  await end(pub);
});

test('roost_disconnects_total{by="client",reason="NormalDisconnection"} and {by="client",reason="ConnectionLost"}', async () => {
  const before = await scrape();
  await end(await as('alice'));
  const lost = await as('alice');
  drop(lost); // no DISCONNECT
  await closed(lost);
  const s = await untilScrape(node.httpPort, (x) => x.value('roost_disconnects_total', { reason: 'ConnectionLost' }) > before.value('roost_disconnects_total', { reason: 'ConnectionLost' }));
  assert.equal(s.value('roost_disconnects_total', { by: 'client', reason: 'NormalDisconnection' }), before.value('roost_disconnects_total', { by: 'client', reason: 'NormalDisconnection' }) + 1);
  assert.equal(s.value('roost_disconnects_total', { by: 'client', reason: 'ConnectionLost' }), before.value('roost_disconnects_total', { by: 'client', reason: 'ConnectionLost' }) + 1);
});

test('roost_disconnects_total{by="server",reason="ProtocolError"}: a second CONNECT [MQTT-3.1.0-2]; {reason="SessionTakenOver"}: the same client id again', async () => {
  const before = await scrape();
  const { client: raw } = await RawClient.connect(node.mqttPort, 5, { username: 'alice', password: Buffer.from(PASSWORD.alice) });
  raw.send(raw.connectPacket({ username: 'alice', password: Buffer.from(PASSWORD.alice) }));
  assert.equal((await serverClose(raw))?.reasonCode, 0x82);
  const clientId = unique('taken');
  const first = await as('alice', { clientId });
  const second = await as('alice', { clientId });
  await closed(first);
  const s = await untilScrape(node.httpPort, (x) => x.value('roost_disconnects_total', { by: 'server', reason: 'SessionTakenOver' }) > before.value('roost_disconnects_total', { by: 'server', reason: 'SessionTakenOver' }));
  assert.equal(s.value('roost_disconnects_total', { by: 'server', reason: 'ProtocolError' }), before.value('roost_disconnects_total', { by: 'server', reason: 'ProtocolError' }) + 1);
  assert.equal(s.value('roost_disconnects_total', { by: 'server', reason: 'SessionTakenOver' }), before.value('roost_disconnects_total', { by: 'server', reason: 'SessionTakenOver' }) + 1);
  first.end(true);
  await end(second);
});

test('roost_auth_total{provider="password-file",result="bad-credentials"}: a wrong password is counted as a failure', async () => {
  const before = (await scrape()).value('roost_auth_total', { provider: 'password-file', result: 'bad-credentials' });
  const refused = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, clientId: unique('wrong'), username: 'alice', password: 'not-her-password' });
  await new Promise((resolve) => refused.once('error', resolve));
  refused.end(true);
  assert.equal((await scrape()).value('roost_auth_total', { provider: 'password-file', result: 'bad-credentials' }), before + 1);
});

test('roost_session_inflight_messages: a subscriber that withholds its PUBACK is sampled with one message in flight', async () => {
  const topic = `m/${unique('inflight')}`;
  const { client: sub } = await RawClient.connect(node.mqttPort, 5, { username: 'alice', password: Buffer.from(PASSWORD.alice) });
  await sub.subscribe([{ topic, qos: 1 }]);
  const pub = await as('alice');
  const start = await scrape();
  await pub.publishAsync(topic, 'unacked', { qos: 1 });
  await sub.next('publish'); // and never acknowledged
  const one = (x: Scrape) => x.value('roost_session_inflight_messages_bucket', { le: '1' }) - x.value('roost_session_inflight_messages_bucket', { le: '0' });
  await untilScrape(node.httpPort, (x) => one(x) > one(start));
  sub.destroy();
  await end(pub);
});

test('/metrics passes promtool check metrics (names, HELP and TYPE, counter suffixes, units)', async () => {
  const { code, output } = await promtool(['check', 'metrics'], await scrapeText(node.httpPort));
  assert.equal(code, 0, output);
});
