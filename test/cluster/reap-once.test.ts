// QoS 1 messages that flow while a dead node's offline sessions are adopted reach each of
// them once. During a reap the publisher's node routes a message both to the reaper (which
// has routed the sessions it adopted so far to itself) and to the dead node (whose routes
// stay until the reap ends); the forward to the dead node fails, and the message is routed
// again after the reap. The reaper must then skip the sessions that had the first copy.
// Before the reroute was marked by each node's take-on count, it was marked by the first
// routing's time with a second of clock margin, and the sessions adopted in that second got
// such messages twice (a CI run of graceful-leave.test.ts once saw it). A publisher on each
// surviving node: one of them is the reaper, so both the reaper's own first copies and those
// it took from a peer are routed again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startCluster, untilRouted, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { connackOf, connect, connectWithInbox, drop, end, unique } from '../helpers/clients.ts';

/** Offline sessions on the node that dies: enough that adopting them takes a while. */
const SESSIONS = 60;
const EXPIRY_S = 120;
/** One QoS 1 message every this many ms, from the kill until after the reap. */
const PUBLISH_EVERY_MS = 10;
/** Publishing goes on this long after the reap, so messages routed during it have settled. */
const AFTER_REAP_MS = 500;

let cluster: TestCluster;
before(async () => {
  // Room in each session's queue for everything published here (the default keeps 1000).
  cluster = await startCluster(2, { env: { ROOST_MAX_QUEUED_MESSAGES: '50000' } });
});
after(async () => {
  await cluster?.stop();
});

/** Publishes `${name} n` at QoS 1 every PUBLISH_EVERY_MS until `stop` resolves; resolves with the payloads acknowledged. */
async function publishUntil(publisher: MqttClient, name: string, topic: string, stop: Promise<unknown>): Promise<string[]> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const acked: string[] = [];
  const pending: Promise<void>[] = [];
  for (let n = 0; !stopped; n++) {
    const payload = `${name} ${n}`;
    pending.push(publisher.publishAsync(topic, payload, { qos: 1 }).then(() => void acked.push(payload)));
    await new Promise((resolve) => setTimeout(resolve, PUBLISH_EVERY_MS));
  }
  await Promise.all(pending);
  return acked;
}

test('[§4.3.2] QoS 1 messages published while a dead node\'s offline sessions are adopted reach each adopted session once, none lost', { timeout: 120_000 }, async (t) => {
  const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
  const victim = await cluster.addNode();
  const base = unique('reap-once');
  const topic = `${base}/data/x`;
  const ids = Array.from({ length: SESSIONS }, (_, i) => `${base}-s${i}`);
  const options = (clientId: string) => ({ clientId, protocolVersion: 5 as const, clean: false, resubscribe: false, properties: { sessionExpiryInterval: EXPIRY_S } });

  await Promise.all(ids.map(async (clientId) => {
    const client = await connect(victim.url, { ...options(clientId), clean: true });
    await client.subscribeAsync(`${base}/data/#`, { qos: 1 });
    drop(client);
  }));
  // The victim's route reaches node a: an online subscriber there sees a probe from a.
  const probe = await connectWithInbox(victim.url, { protocolVersion: 5 });
  await probe.client.subscribeAsync(`${base}/probe`, { qos: 0 });
  const publishers = await Promise.all([a, b].map((node) => connect(node.url, { protocolVersion: 5 })));
  for (const publisher of publishers) await untilRouted(publisher, probe.inbox, `${base}/probe`);

  const reaped = Promise.any([a, b].map((node) => node.waitLog((line) => line.msg === 'reaped dead node' && line.deadNode === victim.nodeId, 30_000)));
  const settled = reaped.then(() => new Promise((resolve) => setTimeout(resolve, AFTER_REAP_MS)));
  const publishing = Promise.all(publishers.map((publisher, i) => publishUntil(publisher, i === 0 ? 'a' : 'b', topic, settled)));
  await victim.kill();
  const acked = (await publishing).flat();
  // Behind everything queued for the sessions: once it arrives, a copy would have too.
  await publishers[0]!.publishAsync(topic, 'end', { qos: 1 });

  const doubled: string[] = [];
  const lost: string[] = [];
  for (const clientId of ids) {
    const resumed = await connectWithInbox(b.url, options(clientId));
    try {
      assert.equal(connackOf(resumed.client).sessionPresent, true, `${clientId} resumed`);
      const received = (await resumed.inbox.until((m) => m.payload.toString() === 'end', 10_000)).map((m) => m.payload.toString()).filter((p) => p !== 'end');
      const seen = new Map<string, number>();
      for (const payload of received) seen.set(payload, (seen.get(payload) ?? 0) + 1);
      for (const [payload, n] of seen) if (n > 1) doubled.push(`${clientId}: ${payload} x${n}`);
      for (const payload of acked) if (!seen.has(payload)) lost.push(`${clientId}: ${payload}`);
    } finally {
      await resumed.client.endAsync();
    }
  }
  await end(...publishers, probe.client);
  t.diagnostic(`${acked.length} messages acknowledged to ${SESSIONS} adopted sessions; ${doubled.length} arrived twice, ${lost.length} never`);
  assert.deepEqual(lost.slice(0, 10), [], `every acknowledged message reaches every session (${lost.length} missing)`);
  assert.deepEqual(doubled.slice(0, 10), [], `no message reaches a session twice (${doubled.length} doubled)`);
});
