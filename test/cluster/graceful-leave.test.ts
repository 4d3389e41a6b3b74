// A node that leaves gracefully (SIGTERM: NodeProcess.stop) strands nothing: an offline
// persistent session it held keeps queueing, expires on time and publishes its will once,
// from another node; its shared-subscription members' messages go to the group's other members.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { IConnectPacket } from 'mqtt-packet';
import { Redis } from 'ioredis';
import { startCluster, untilRouted, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { connackOf, connect, connectWithInbox, drop, end, type Inbox, unique } from '../helpers/clients.ts';
import { RawClient } from '../helpers/raw-client.ts';

const SESSION_EXPIRY_S = 5;
/** How long a session stays offline on its node before the node leaves. */
const OFFLINE_BEFORE_LEAVING_MS = 1_500;
/** A timer another node took over fires this close to when it was due: ms early, ms late. */
const EARLY_MS = 250;
const LATE_MS = 1_000;
const STOP_BOUND_MS = 15_000;

// Two nodes stay for the whole file; each test adds the node that leaves.
let cluster: TestCluster;
let redis: Redis;
before(async () => {
  cluster = await startCluster(2);
  redis = new Redis(cluster.redis.url, { maxRetriesPerRequest: 1 });
});
after(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

const sessionKey = (clientId: string) => `${cluster.prefix}session:{${clientId}}`;
const willKey = (clientId: string) => `${cluster.prefix}will:{${clientId}}`;

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it holds; for states that no event announces (Redis keys). */
async function eventually(check: () => Promise<boolean> | boolean, ms: number, what: string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await delay(everyMs);
  }
}

/** Waits until `at` (a Date.now() value): for checks that something did not happen by then. */
async function until(at: number): Promise<void> {
  const left = at - Date.now();
  if (left > 0) await delay(left);
}

/** A subscriber on a staying node that records when each will arrives, routed from the other staying node. */
async function willWatcher(node: NodeProcess, from: NodeProcess, base: string): Promise<{ client: MqttClient; inbox: Inbox; arrivals: (topic: string) => number[]; close(): Promise<void> }> {
  const watcher = await connectWithInbox(node.url, { protocolVersion: 5 });
  const times: Array<{ topic: string; at: number }> = [];
  watcher.client.on('message', (topic) => times.push({ topic, at: Date.now() }));
  await watcher.client.subscribeAsync(`${base}/will/#`, { qos: 1 });
  const prober = await connect(from.url, { protocolVersion: 5 });
  await untilRouted(prober, watcher.inbox, `${base}/will/probe`);
  await end(prober);
  return {
    ...watcher,
    arrivals: (topic) => times.filter((t) => t.topic === topic).map((t) => t.at),
    close: () => end(watcher.client),
  };
}

/**
 * A v5 client with a persistent session (expiry SESSION_EXPIRY_S) and a delayed will on
 * `leaving`, subscribed to `${base}/data/#`, whose connection then drops without DISCONNECT so
 * the will stays pending. Resolves once the node has stored the session as offline.
 */
async function offlineSessionWithWill(leaving: NodeProcess, base: string, willDelaySeconds: number) {
  const clientId = unique('leaver');
  const willTopic = `${base}/will/${clientId}`;
  const options: IClientOptions = {
    clientId,
    protocolVersion: 5,
    clean: true,
    resubscribe: false,
    properties: { sessionExpiryInterval: SESSION_EXPIRY_S },
    will: { topic: willTopic, payload: Buffer.from(`will of ${clientId}`), qos: 1, retain: false, properties: { willDelayInterval: willDelaySeconds } },
  };
  const client = await connect(leaving.url, options);
  await client.subscribeAsync(`${base}/data/#`, { qos: 1 });
  drop(client);
  const disconnectedAt = Date.now();
  await eventually(async () => (await redis.hexists(sessionKey(clientId), 'disconnectedAt')) === 1, 5_000, 'the session stored as offline');
  return { clientId, willTopic, disconnectedAt };
}

// ---------------------------------------------------------------------------------------

// Concurrently (each test has its node to stop and its own topics): mostly they wait for timers.
describe('SIGTERM a node holding an offline persistent session (expiry 5 s) whose client dropped, leaving its will pending', { concurrency: true }, () => {
  test('[MQTT-3.2.2-3] QoS 1 messages published on another node after it left are queued: the client resuming elsewhere before expiry gets them, with session present = 1 and no will [MQTT-3.1.3-9]', async (t) => {
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const base = unique('leave-queue');
    const watcher = await willWatcher(a, b, base);
    const leaving = await cluster.addNode();
    const pub = await connect(a.url, { protocolVersion: 5 });
    // The will is due when the session ends, so the client is back before it either way.
    const { clientId, willTopic, disconnectedAt } = await offlineSessionWithWill(leaving, base, SESSION_EXPIRY_S);
    await within(leaving.stop(), STOP_BOUND_MS, 'SIGTERM drain');

    const sent = Array.from({ length: 10 }, (_, i) => `queued ${i}`);
    for (const payload of sent) await within(pub.publishAsync(`${base}/data/x`, payload, { qos: 1 }), 5_000, `PUBACK of ${payload}`);
    const resumed = await connectWithInbox(b.url, { clientId, protocolVersion: 5, clean: false, resubscribe: false, properties: { sessionExpiryInterval: SESSION_EXPIRY_S } });
    const resumedAfter = Date.now() - disconnectedAt;
    try {
      const sessionPresent = connackOf(resumed.client).sessionPresent;
      await resumed.inbox.until((m) => m.payload.toString() === sent.at(-1), 5_000).catch(() => undefined);
      const received = resumed.inbox.messages.filter((m) => m.topic === `${base}/data/x`).map((m) => m.payload.toString());
      // No will: the client came back before its delay [MQTT-3.1.3-9]; watched a second past it.
      await until(disconnectedAt + SESSION_EXPIRY_S * 1000 + 1_000);
      const wills = watcher.arrivals(willTopic).length;

      assert.equal(sessionPresent, true, `session present on resuming ${resumedAfter} ms after the disconnect`);
      assert.deepEqual(received, sent, `the messages published after the node left, queued for the session (got ${received.length} of ${sent.length})`);
      assert.equal(wills, 0, 'no will for a client that came back before the will delay');
      t.diagnostic(`resumed ${resumedAfter} ms after the disconnect; ${received.length} of ${sent.length} queued messages received`);
    } finally {
      await end(resumed.client, pub);
      await watcher.close();
    }
  });

  for (const { willDelay, name } of [
    { willDelay: 3, name: 'will delay 3 s < session expiry 5 s: the will goes out when its delay passes' },
    { willDelay: 30, name: 'will delay 30 s > session expiry 5 s: the will goes out when the session ends' },
  ]) {
    // These tests' leaving nodes overlap, so one may reap another and then leave itself: the
    // will it adopted must survive that (the chained tests below check it on purpose).
    test(`[MQTT-3.1.2-8] ${name}, exactly once, and the session expires on time (gone from Redis)`, async (t) => {
      const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
      const base = unique('leave-expiry');
      const watcher = await willWatcher(a, b, base);
      const leaving = await cluster.addNode();
      try {
        const { clientId, willTopic, disconnectedAt } = await offlineSessionWithWill(leaving, base, willDelay);
        // Offline here for a while first: a timer taken over must keep its due time, not restart.
        await until(disconnectedAt + OFFLINE_BEFORE_LEAVING_MS);
        await within(leaving.stop(), STOP_BOUND_MS, 'SIGTERM drain');
        const leftAfter = Date.now() - disconnectedAt;

        const expiryMs = SESSION_EXPIRY_S * 1000;
        const willDueMs = Math.min(willDelay, SESSION_EXPIRY_S) * 1000;
        let goneAfter: number | undefined;
        await eventually(
          async () => {
            if ((await redis.exists(sessionKey(clientId))) === 1) return false;
            goneAfter = Date.now() - disconnectedAt;
            return true;
          },
          expiryMs + LATE_MS + 2_000 - (Date.now() - disconnectedAt),
          'the session gone from Redis',
        ).catch(() => undefined);
        // A second will, say one more at the session's end, would be in by then.
        await until(disconnectedAt + expiryMs + 2_000);
        const wills = watcher.arrivals(willTopic).map((at) => at - disconnectedAt);
        const willLeft = await redis.exists(willKey(clientId));
        const report = `node left ${leftAfter} ms after the disconnect; wills at ${JSON.stringify(wills)} ms; session gone at ${goneAfter ?? 'never'} ms`;

        assert.equal(wills.length, 1, `the will published exactly once; ${report}`);
        assert.ok(wills[0]! >= willDueMs - EARLY_MS && wills[0]! <= willDueMs + LATE_MS, `the will published at ${willDueMs} ms (-${EARLY_MS}/+${LATE_MS}); ${report}`);
        assert.ok(goneAfter !== undefined && goneAfter >= expiryMs - EARLY_MS && goneAfter <= expiryMs + LATE_MS, `the session removed from Redis at ${expiryMs} ms (-${EARLY_MS}/+${LATE_MS}); ${report}`);
        assert.equal(willLeft, 0, `no will left in Redis once published; ${report}`);
        t.diagnostic(report);
      } finally {
        await watcher.close();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------

const sharedMembers: Array<{ kind: string; fields: Partial<IConnectPacket> }> = [
  { kind: 'persistent (expiry 300 s)', fields: { clean: true, properties: { sessionExpiryInterval: 300 } } },
  { kind: 'clean', fields: { clean: true, properties: { sessionExpiryInterval: 0 } } },
];
/** About half of these are for the member on the leaving node, which acknowledges none: all must go on to the other member. */
const PUBLISHED_BEFORE_LEAVING = 400;
const PUBLISHED_AFTER_LEAVING = 100;
const PUBLISH_WINDOW = 20;

for (const { kind, fields } of sharedMembers) {
  test(`[§4.8.2] SIGTERM a node with a ${kind} shared-subscription member that acknowledges nothing: every QoS 1 message published around and after the leave reaches the group's member on another node`, async (t) => {
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const topic = unique('leave-shared');
    const filter = `$share/g/${topic}`;
    const leaving = await cluster.addNode();
    // The member on the leaving node never acknowledges: whatever it was sent is cut off by the leave.
    const { client: holder } = await RawClient.connect(leaving.mqttPort, 5, { ...fields, clientId: unique('holder') });
    await holder.subscribe([{ topic: filter, qos: 1 }]);
    const other = await connectWithInbox(a.url, { protocolVersion: 5 });
    await other.client.subscribeAsync(filter, { qos: 1 });
    const pub = await connect(b.url, { protocolVersion: 5 });
    const acked: string[] = [];
    let exitedAt: number | undefined; // acked.length when the node had exited
    let failed: Error | undefined;
    let stopped = false;
    let pumping: Promise<void> | undefined;
    try {
      // Both members' routes known at B: each took a probe.
      await eventually(async () => {
        await pub.publishAsync(topic, 'probe', { qos: 1 });
        return holder.unread.some((p) => p.cmd === 'publish') && other.inbox.messages.length > 0;
      }, 10_000, 'both members take shared messages', 0);

      // PUBLISH_WINDOW publishing loops, each awaiting its PUBACK before the next message.
      let next = 0;
      const more = () => !stopped && failed === undefined && (exitedAt === undefined || acked.length < exitedAt + PUBLISHED_AFTER_LEAVING);
      pumping = Promise.all(
        Array.from({ length: PUBLISH_WINDOW }, async () => {
          while (more()) {
            const payload = `m${next++}`;
            await within(pub.publishAsync(topic, payload, { qos: 1 }), 5_000, `PUBACK of ${payload}`);
            acked.push(payload);
          }
        }),
      ).then(
        () => undefined,
        (error: Error) => void (failed = error),
      );
      const held = () => holder.unread.filter((p) => p.cmd === 'publish' && p.payload.toString().startsWith('m')).length;
      // Its in-flight window full (ROOST_MAX_INFLIGHT 32), the rest of its share queued in its session.
      await eventually(() => held() >= 20 && acked.length >= PUBLISHED_BEFORE_LEAVING, 20_000, `${PUBLISHED_BEFORE_LEAVING} messages acknowledged, the member on the leaving node holding some`);
      await within(leaving.stop(), STOP_BOUND_MS, 'SIGTERM drain');
      exitedAt = acked.length;
      await pumping;
      if (failed) throw failed;

      const heldByLeaver = holder.unread.filter((p) => p.cmd === 'publish').map((p) => (p as { payload: Buffer }).payload.toString());
      const got = () => new Set(other.inbox.messages.map((m) => m.payload.toString()));
      await eventually(() => acked.every((p) => got().has(p)), 10_000, 'every acknowledged message at the other member', 100).catch(() => undefined);
      const missing = acked.filter((p) => !got().has(p));
      const missingAfter = acked.slice(exitedAt).filter((p) => !got().has(p));
      const report =
        `${missing.length} of ${acked.length} acknowledged messages never reached the member on A ` +
        `(${missingAfter.length} of the ${acked.length - exitedAt} published after the node exited; the leaving member had been sent ${heldByLeaver.length}, its session held the rest of its share)`;
      assert.equal(missing.length, 0, `${report}; e.g. ${missing.slice(0, 10).join(' ')}`);
      t.diagnostic(report);
    } finally {
      stopped = true;
      await pumping;
      holder.destroy();
      await end(other.client, pub);
    }
  });
}

// ---------------------------------------------------------------------------------------

// A node that adopted a departed node's offline session holds its will only in memory until
// the will is due; if that node goes too (SIGTERM or SIGKILL), the will must still go out,
// once, from whichever node reaps it next.
const CHAINED_WILL_DELAY_S = 8;
const CHAINED_EXPIRY_S = 30;
describe('a will adopted by a node that goes too', { concurrency: true }, () => {
  for (const how of ['SIGTERM', 'SIGKILL'] as const) {
    test(`[MQTT-3.1.2-8] a will adopted from a departed node by a node that then goes too (${how}) goes out once, when due`, async (t) => {
      // A cluster of its own (same Redis), so the first reap can only fall to the second node.
      const chain = await startCluster(2, { redis: cluster.redis });
      const [first, second] = chain.nodes as [NodeProcess, NodeProcess];
      const chainRedis = new Redis(chain.redis.url, { maxRetriesPerRequest: 1 });
      let watcher: Awaited<ReturnType<typeof willWatcher>> | undefined;
      try {
        const clientId = unique('chained');
        const base = unique('chain');
        const willTopic = `${base}/will/${clientId}`;
        const client = await connect(first.url, {
          clientId,
          protocolVersion: 5,
          clean: true,
          properties: { sessionExpiryInterval: CHAINED_EXPIRY_S },
          will: { topic: willTopic, payload: Buffer.from('chained will'), qos: 1, retain: false, properties: { willDelayInterval: CHAINED_WILL_DELAY_S } },
        });
        drop(client);
        const disconnectedAt = Date.now();
        await eventually(async () => (await chainRedis.hexists(`${chain.prefix}session:{${clientId}}`, 'disconnectedAt')) === 1, 5_000, 'the session stored as offline');
        await within(first.stop(), STOP_BOUND_MS, 'SIGTERM drain of the first node');
        await second.waitLog((l) => l.msg === 'reaped dead node' && l.deadNode === first.nodeId, 10_000);
        // The next reaper and the watcher come up only now: the second node alone adopted the session.
        const third = await chain.addNode();
        const fourth = await chain.addNode();
        watcher = await willWatcher(third, fourth, base);
        if (how === 'SIGTERM') await within(second.stop(), STOP_BOUND_MS, 'SIGTERM drain of the second node');
        else await second.kill();
        const adoptedAfter = Date.now() - disconnectedAt;
        await until(disconnectedAt + CHAINED_WILL_DELAY_S * 1000 + LATE_MS + 1_000);
        const wills = watcher.arrivals(willTopic).map((at) => at - disconnectedAt);
        const report = `the second node went ${adoptedAfter} ms after the disconnect; wills at ${JSON.stringify(wills)} ms`;
        assert.equal(wills.length, 1, `the will published exactly once; ${report}`);
        assert.ok(wills[0]! >= CHAINED_WILL_DELAY_S * 1000 - EARLY_MS && wills[0]! <= CHAINED_WILL_DELAY_S * 1000 + LATE_MS, `the will published when due; ${report}`);
        t.diagnostic(report);
      } finally {
        await watcher?.close();
        chainRedis.disconnect();
        await chain.stop();
      }
    });
  }
});
