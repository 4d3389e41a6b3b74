// The single-node conformance rules of test/integration, rerun with publishers and subscribers
// on different nodes of one 3-node cluster, for MQTT 3.1.1 and 5.
//
// Test names carry the spec id of the version under test: 3.1.1 and 5.0 number some of the
// same rules differently (the retained message rules, SUBACK QoS, session present, takeover).
//
// Routes reach other nodes through Redis a moment after SUBACK, so every test that subscribes
// on one node and publishes on another waits with probes (payload 'probe') until the route is
// visible, and leaves the probes out of what it asserts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { IConnectPacket, IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { ReasonCode } from '@roost/protocol';
import { startCluster, untilRouted, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { closed, connackOf, connect, connectWithInbox, drop, end, Inbox, unique, type Received } from '../helpers/clients.ts';
import { RawClient } from '../helpers/raw-client.ts';

type Version = 4 | 5;

let cluster: TestCluster;
let A: NodeProcess;
let B: NodeProcess;
let C: NodeProcess;
before(async () => {
  cluster = await startCluster(3);
  [A, B, C] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
});
after(async () => {
  await cluster.stop();
});

/** The ids of a rule in the spec of `version`, bracketed for a test name. */
function rule(version: Version, v311: string[], v5: string[]): string {
  return (version === 5 ? v5 : v311).map((id) => `[${id}]`).join(' ');
}

const PROBE = 'probe';
const isProbe = (m: Received) => m.payload.toString() === PROBE;
/** Messages without the route probes. */
const real = (messages: Received[]) => messages.filter((m) => !isProbe(m));
const payloads = (messages: Received[]) => real(messages).map((m) => m.payload.toString());

/** A client on `node` with an inbox, subscribed to `filters` (in one SUBSCRIBE). */
async function subscriber(node: NodeProcess, version: Version, filters: string[], qos: 0 | 1 | 2 = 1, options: IClientOptions = {}) {
  const client = await connect(node.url, { protocolVersion: version, ...options });
  const inbox = new Inbox(client);
  await client.subscribeAsync(filters, { qos });
  return { client, inbox };
}

/** Waits until `publisher` reaches the subscriber of `inbox` on every probe topic, one per filter. */
async function routed(publisher: MqttClient, inbox: Inbox, ...probeTopics: string[]): Promise<void> {
  for (const topic of probeTopics) await untilRouted(publisher, inbox, topic);
}

/**
 * Publishes a marker and resolves with every non-probe message up to it. A QoS 2 marker by
 * default: MQTT.js emits a QoS 2 message at PUBREL, so only a QoS 2 marker comes after every
 * earlier QoS 2 delivery (the subscription to the marker must be at QoS 2 for that).
 */
async function untilMarker(publisher: MqttClient, inbox: Inbox, marker: string, qos: 0 | 1 | 2 = 2): Promise<Received[]> {
  await publisher.publishAsync(marker, 'marker', { qos });
  return real(await inbox.until((m) => m.topic === marker && m.payload.toString() === 'marker'));
}

/** Options for a session that outlives its connection: clean session 0 (v3), expiry 60 s (v5). */
function persistent(version: Version, clientId: string): IClientOptions {
  return version === 5
    ? { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 60 } }
    : { protocolVersion: 4, clientId, clean: false };
}

/** The same, as CONNECT fields for a RawClient. */
function persistentFields(version: Version, clientId: string): Partial<IConnectPacket> {
  return version === 5 ? { clientId, clean: false, properties: { sessionExpiryInterval: 60 } } : { clientId, clean: false };
}

/** The next PUBLISH a raw client got that is not a route probe. */
async function nextReal(client: RawClient): Promise<IPublishPacket> {
  for (;;) {
    const publish = await client.next('publish');
    if (publish.payload.toString() !== PROBE) return publish;
  }
}

/** untilRouted for a raw client, whose probes are QoS 0 and so need no acknowledgement. */
async function untilRawRouted(publisher: MqttClient, client: RawClient, topic: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    await publisher.publishAsync(topic, PROBE, { qos: 0 });
    try {
      const publish = await client.next('publish', 50);
      if (publish.topic === topic && publish.payload.toString() === PROBE) return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`no route for ${topic} within ${ms} ms`, { cause: error });
    }
  }
}

async function forwardedBy(node: NodeProcess): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith('roost_cluster_forwarded_messages_total '));
  assert.ok(line, 'the node exports roost_cluster_forwarded_messages_total');
  return Number(line.split(' ')[1]);
}

for (const version of [4, 5] as const) {
  describe(`v${version} across nodes`, () => {
    test(`${rule(version, ['MQTT-3.8.4-6'], ['MQTT-3.8.4-8'])} v${version}: QoS 0/1/2 published on A reach subscribers on B and C at the lower of published and granted QoS`, async () => {
      const p = unique('qos');
      const marker = `${p}/marker`;
      // One subscriber per granted QoS; the marker subscription is QoS 2 for all (see untilMarker).
      const subs = await Promise.all(
        ([[B, 0], [C, 1], [B, 2]] as const).map(async ([node, qos]) => {
          const s = await subscriber(node, version, [p], qos);
          await s.client.subscribeAsync(marker, { qos: 2 });
          return { ...s, qos };
        }),
      );
      const pub = await connect(A.url, { protocolVersion: version });
      for (const s of subs) await routed(pub, s.inbox, p, marker);
      for (const qos of [0, 1, 2] as const) await pub.publishAsync(p, `q${qos}`, { qos });
      for (const s of subs) {
        const got = (await untilMarker(pub, s.inbox, marker)).filter((m) => m.topic === p);
        assert.deepEqual(
          got.map((m) => [m.payload.toString(), m.packet.qos]).sort(),
          [['q0', 0], ['q1', Math.min(1, s.qos)], ['q2', Math.min(2, s.qos)]],
          `granted QoS ${s.qos}`,
        );
      }
      await end(pub, ...subs.map((s) => s.client));
    });

    test(`[MQTT-4.6.0-5] [MQTT-4.6.0-6] v${version}: QoS 1 messages from one publisher on A arrive in order on B and C`, async () => {
      const topic = unique('ordered');
      const onB = await subscriber(B, version, [topic]);
      const onC = await subscriber(C, version, [topic]);
      const pub = await connect(A.url, { protocolVersion: version });
      await routed(pub, onB.inbox, topic);
      await routed(pub, onC.inbox, topic);
      const sent = Array.from({ length: 100 }, (_, i) => `m${i}`);
      // All in flight at once, so the order is the broker's, not the test's.
      await Promise.all(sent.map((payload) => pub.publishAsync(topic, payload, { qos: 1 })));
      for (const { inbox } of [onB, onC]) {
        await inbox.until((m) => m.payload.toString() === 'm99');
        assert.deepEqual(payloads(inbox.messages), sent);
      }
      await end(pub, onB.client, onC.client);
    });

    test(`${rule(version, ['MQTT-4.3.3-2'], ['MQTT-4.3.3-10'])} v${version}: a QoS 2 PUBLISH resent on A before PUBREL is delivered once on B`, async () => {
      const topic = unique('exactly-once');
      const marker = `${topic}/marker`;
      const sub = await subscriber(B, version, [topic, marker], 2);
      const helper = await connect(A.url, { protocolVersion: version });
      await routed(helper, sub.inbox, topic, marker);
      const { client: pub } = await RawClient.connect(A.mqttPort, version);
      const publish = (dup: boolean): IPublishPacket => ({ cmd: 'publish', topic, payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false, dup });
      pub.send(publish(false));
      assert.equal((await pub.next('pubrec')).messageId, 7);
      pub.send(publish(true));
      assert.equal((await pub.next('pubrec')).messageId, 7);
      pub.send({ cmd: 'pubrel', messageId: 7 });
      await pub.next('pubcomp');
      const got = await untilMarker(helper, sub.inbox, marker);
      assert.deepEqual(sub.inbox.pairs(got), [[topic, 'once'], [marker, 'marker']]);
      assert.equal(got[0]!.packet.qos, 2);
      await pub.end();
      await end(helper, sub.client);
    });

    test(`[MQTT-4.7.1-1] v${version}: '#' on B matches the parent level and any number of child levels published on A`, async () => {
      const p = unique('hash');
      const sub = await subscriber(B, version, [`${p}/a/#`, `${p}/marker`], 2);
      const pub = await connect(A.url, { protocolVersion: version });
      await routed(pub, sub.inbox, `${p}/a/probe`, `${p}/marker`);
      for (const topic of [`${p}/a`, `${p}/a/b`, `${p}/a/b/c`, `${p}/b`, `${p}/ab`, `${p}/a/`]) await pub.publishAsync(topic, topic, { qos: 1 });
      const got = await untilMarker(pub, sub.inbox, `${p}/marker`);
      assert.deepEqual(got.map((m) => m.topic), [`${p}/a`, `${p}/a/b`, `${p}/a/b/c`, `${p}/a/`, `${p}/marker`]);
      await end(pub, sub.client);
    });

    test(`[MQTT-4.7.1-2] v${version}: '+' on C matches exactly one level, empty levels included, published on A`, async () => {
      const p = unique('plus');
      const sub = await subscriber(C, version, [`${p}/+/x`, `${p}/y/+`, `${p}/marker`], 2);
      const pub = await connect(A.url, { protocolVersion: version });
      await routed(pub, sub.inbox, `${p}/probe/x`, `${p}/y/probe`, `${p}/marker`);
      for (const topic of [`${p}/a/x`, `${p}/a/b/x`, `${p}/x`, `${p}//x`, `${p}/y/`, `${p}/y`]) await pub.publishAsync(topic, topic, { qos: 1 });
      const got = await untilMarker(pub, sub.inbox, `${p}/marker`);
      assert.deepEqual(got.map((m) => m.topic), [`${p}/a/x`, `${p}//x`, `${p}/y/`, `${p}/marker`]);
      await end(pub, sub.client);
    });

    test(`${rule(version, ['MQTT-3.3.5-1'], ['MQTT-3.3.4-2'])} v${version}: several subscribers on B, one with overlapping filters, each get a message from A once`, async () => {
      const p = unique('fan-in');
      const topic = `${p}/x`;
      const marker = `${p}/marker`;
      const plain = await Promise.all([1, 2, 3].map(() => subscriber(B, version, [topic, marker], 1)));
      // Overlapping filters on one client: one copy at the highest granted QoS.
      const overlapping = await connect(B.url, { protocolVersion: version });
      const overlappingInbox = new Inbox(overlapping);
      await overlapping.subscribeAsync({ [`${p}/+`]: { qos: 0 }, [`${p}/#`]: { qos: 1 }, [topic]: { qos: 1 } });
      const pub = await connect(A.url, { protocolVersion: version });
      for (const s of plain) await routed(pub, s.inbox, topic, marker);
      await routed(pub, overlappingInbox, `${p}/probe`, `${p}/probe/deep`, topic);
      // A QoS 1 publish is acknowledged once B acknowledged it (and every forward before it).
      await pub.publishAsync(`${p}/settle`, PROBE, { qos: 1 });
      const before = await forwardedBy(A);
      await pub.publishAsync(topic, 'fan', { qos: 1 });
      assert.equal((await forwardedBy(A)) - before, 1, 'one forward to B for all its subscribers');
      for (const { inbox } of [...plain, { inbox: overlappingInbox }]) {
        const got = (await untilMarker(pub, inbox, marker, 1)).filter((m) => m.topic === topic);
        assert.deepEqual(got.map((m) => [m.payload.toString(), m.packet.qos]), [['fan', 1]]);
      }
      await end(pub, overlapping, ...plain.map((s) => s.client));
    });

    test(`${rule(version, ['MQTT-3.3.1-5', 'MQTT-3.3.1-6', 'MQTT-3.3.1-8'], ['MQTT-3.3.1-5', 'MQTT-3.3.1-9'])} v${version}: a message retained on A is sent to a new subscriber on B with RETAIN 1`, async () => {
      const p = unique('retained');
      const pub = await connect(A.url, { protocolVersion: version });
      await pub.publishAsync(`${p}/a/x`, 'a', { qos: 1, retain: true });
      await pub.publishAsync(`${p}/b/x`, 'first', { qos: 1, retain: true });
      // A retained publish from C replaces the one from A, cluster-wide.
      const other = await connect(C.url, { protocolVersion: version });
      await other.publishAsync(`${p}/b/x`, 'b', { qos: 1, retain: true });
      const { client: sub, inbox } = await subscriber(B, version, [`${p}/+/x`]);
      const got = await inbox.waitFor(2);
      assert.deepEqual(got.map((m) => [m.topic, m.payload.toString(), m.packet.retain]).sort(), [[`${p}/a/x`, 'a', true], [`${p}/b/x`, 'b', true]]);
      await end(pub, other, sub);
    });

    test(`${rule(version, ['MQTT-3.3.1-10', 'MQTT-3.3.1-11'], ['MQTT-3.3.1-6', 'MQTT-3.3.1-7'])} v${version}: an empty retained PUBLISH on C is delivered on B and clears the message retained on A`, async () => {
      const topic = unique('clear');
      const marker = `${topic}/marker`;
      const pubA = await connect(A.url, { protocolVersion: version });
      await pubA.publishAsync(topic, 'kept', { qos: 1, retain: true });
      const live = await subscriber(B, version, [topic, marker]);
      assert.deepEqual(live.inbox.pairs(await live.inbox.waitFor(1)), [[topic, 'kept']]);
      const pubC = await connect(C.url, { protocolVersion: version });
      await routed(pubC, live.inbox, marker);
      await pubC.publishAsync(topic, '', { qos: 1, retain: true });
      const got = await untilMarker(pubC, live.inbox, marker, 1);
      assert.deepEqual(live.inbox.pairs(got), [[topic, 'kept'], [topic, ''], [marker, 'marker']]);
      // A new subscriber, on a third node, finds nothing retained.
      const late = await subscriber(A, version, [topic, marker]);
      assert.deepEqual(late.inbox.pairs(await untilMarker(pubA, late.inbox, marker, 1)), [[marker, 'marker']]);
      await end(pubA, pubC, live.client, late.client);
    });

    test(`[MQTT-3.8.4-5] v${version}: every filter of one SUBSCRIBE on A takes effect before its SUBACK`, async () => {
      // Each filter's retained lookup and route write go through Redis: a SUBACK sent before
      // the later filters were registered once lost what was published right after it.
      const pub = await connect(A.url, { protocolVersion: version });
      for (let round = 0; round < 10; round++) {
        const p = unique('suback');
        await pub.publishAsync(`${p}/first`, 'retained', { qos: 1, retain: true });
        const { client, inbox } = await subscriber(A, version, [`${p}/first`, `${p}/second`, `${p}/third`]);
        await pub.publishAsync(`${p}/third`, 'after suback', { qos: 1 });
        await pub.publishAsync(`${p}/second`, 'after suback', { qos: 1 });
        // The retained message may come after the live ones: its lookup follows the SUBACK.
        const got = await inbox.waitFor(3);
        assert.deepEqual(inbox.pairs(got).sort(), [[`${p}/first`, 'retained'], [`${p}/second`, 'after suback'], [`${p}/third`, 'after suback']]);
        await end(client);
      }
      await end(pub);
    });

    test(`${rule(version, ['MQTT-3.3.1-9'], ['MQTT-3.3.1-12'])} v${version}: a retained message from A forwarded to an existing subscription on B has RETAIN 0`, async () => {
      const topic = unique('forwarded');
      const sub = await subscriber(B, version, [topic]);
      const pub = await connect(A.url, { protocolVersion: version });
      await routed(pub, sub.inbox, topic);
      await pub.publishAsync(topic, 'live', { qos: 1, retain: true });
      const [message] = real(await sub.inbox.until((m) => m.payload.toString() === 'live'));
      assert.equal(message!.packet.retain, false);
      await end(pub, sub.client);
    });

    test(`${rule(version, ['MQTT-3.2.2-2', 'MQTT-3.1.2-5'], ['MQTT-3.2.2-3', 'MQTT-3.1.2-23'])} v${version}: a session made on A, offline while B publishes, resumes on C with session present 1 and its messages in order`, async () => {
      const clientId = unique('roaming');
      const p = unique('roaming');
      const first = await subscriber(A, version, [`${p}/#`], 1, persistent(version, clientId));
      const pub = await connect(B.url, { protocolVersion: version });
      await routed(pub, first.inbox, `${p}/probe`);
      await end(first.client);
      const sent = Array.from({ length: 10 }, (_, i) => `m${i}`);
      for (const payload of sent) await pub.publishAsync(`${p}/m`, payload, { qos: 1 });

      const { client: second, inbox } = await connectWithInbox(C.url, persistent(version, clientId));
      assert.equal(connackOf(second).sessionPresent, true);
      await routed(pub, inbox, `${p}/probe`);
      const got = await untilMarker(pub, inbox, `${p}/marker`, 1);
      assert.deepEqual(payloads(got), [...sent, 'marker']);
      assert.ok(got.slice(0, sent.length).every((m) => m.packet.qos === 1));
      await end(pub, second);
    });

    test(`${rule(version, ['MQTT-3.1.2-5'], ['MQTT-3.1.2-23'])} v${version}: QoS 2 messages from B queued for a session made on A are delivered once, at QoS 2, when it resumes on C`, async () => {
      const clientId = unique('roaming-qos2');
      const p = unique('roaming-qos2');
      const first = await subscriber(A, version, [`${p}/#`], 2, persistent(version, clientId));
      const pub = await connect(B.url, { protocolVersion: version });
      await routed(pub, first.inbox, `${p}/probe`);
      await end(first.client);
      const sent = ['t0', 't1', 't2'];
      for (const payload of sent) await pub.publishAsync(`${p}/m`, payload, { qos: 2 });

      const { client: second, inbox } = await connectWithInbox(C.url, persistent(version, clientId));
      assert.equal(connackOf(second).sessionPresent, true);
      await routed(pub, inbox, `${p}/probe`);
      const got = await untilMarker(pub, inbox, `${p}/marker`);
      assert.deepEqual(payloads(got), [...sent, 'marker']);
      assert.ok(got.every((m) => m.packet.qos === 2));
      await end(pub, second);
    });

    test(`[MQTT-4.4.0-1] v${version}: messages unacknowledged on A are resent with DUP 1 and their packet ids when the session resumes on C`, async () => {
      const clientId = unique('redeliver');
      const topic = unique('redeliver');
      const { client: first } = await RawClient.connect(A.mqttPort, version, persistentFields(version, clientId));
      await first.subscribe([{ topic, qos: 1 }]);
      const pub = await connect(B.url, { protocolVersion: version });
      await untilRawRouted(pub, first, topic);
      await pub.publishAsync(topic, 'a', { qos: 1 });
      await pub.publishAsync(topic, 'b', { qos: 1 });
      const original = [await nextReal(first), await nextReal(first)];
      assert.deepEqual(original.map((p) => [p.payload.toString(), p.dup]), [['a', false], ['b', false]]);
      first.destroy(); // no PUBACK

      const second = await RawClient.open(C.mqttPort, version);
      assert.equal((await second.connect(persistentFields(version, clientId))).sessionPresent, true);
      const resent = [await nextReal(second), await nextReal(second)];
      assert.deepEqual(
        resent.map((p) => [p.payload.toString(), p.messageId, p.dup]),
        original.map((p) => [p.payload.toString(), p.messageId, true]),
      );
      for (const p of resent) second.send({ cmd: 'puback', messageId: p.messageId });
      await second.end();
      await end(pub);
    });

    test(`${rule(version, ['MQTT-4.3.3-1'], ['MQTT-4.3.3-6'])} v${version}: a PUBREL sent on A and not completed is resent, not the PUBLISH, when the session resumes on C`, async () => {
      const clientId = unique('resend-pubrel');
      const topic = unique('resend-pubrel');
      const marker = `${topic}/marker`;
      const { client: first } = await RawClient.connect(A.mqttPort, version, persistentFields(version, clientId));
      await first.subscribe([{ topic, qos: 2 }, { topic: marker, qos: 0 }]);
      const pub = await connect(B.url, { protocolVersion: version });
      await untilRawRouted(pub, first, topic);
      await pub.publishAsync(topic, 'two', { qos: 2 });
      const publish = await nextReal(first);
      first.send({ cmd: 'pubrec', messageId: publish.messageId });
      await first.next('pubrel');
      first.destroy(); // no PUBCOMP

      const second = await RawClient.open(C.mqttPort, version);
      await second.connect(persistentFields(version, clientId));
      assert.equal((await second.next('pubrel')).messageId, publish.messageId);
      await untilRawRouted(pub, second, marker);
      await pub.publishAsync(marker, 'marker', { qos: 0 });
      assert.deepEqual([await nextReal(second)].map((p) => [p.topic, p.payload.toString()]), [[marker, 'marker']]);
      second.send({ cmd: 'pubcomp', messageId: publish.messageId });
      await second.end();
      await end(pub);
    });

    test(`${rule(version, ['MQTT-3.1.2-6', 'MQTT-3.2.2-1'], ['MQTT-3.1.2-4', 'MQTT-3.2.2-2'])} v${version}: a clean connection on B discards the session made on A: session present 0, its subscription gone`, async () => {
      const clientId = unique('discard');
      const topic = unique('discard');
      const marker = `${topic}/marker`;
      const first = await subscriber(A, version, [topic], 1, persistent(version, clientId));
      const pub = await connect(C.url, { protocolVersion: version });
      await routed(pub, first.inbox, topic);
      await end(first.client);
      const second = await connect(B.url, { protocolVersion: version, clientId, clean: true });
      assert.equal(connackOf(second).sessionPresent, false);
      const inbox = new Inbox(second);
      await second.subscribeAsync(marker, { qos: 1 });
      await routed(pub, inbox, marker);
      await pub.publishAsync(topic, 'old subscription', { qos: 1 });
      assert.deepEqual(inbox.pairs(await untilMarker(pub, inbox, marker, 1)), [[marker, 'marker']]);
      await end(pub, second);
    });

    test(`[MQTT-3.10.4-2] v${version}: after UNSUBSCRIBE on B no more messages published on A are sent`, async () => {
      const topic = unique('unsub');
      const marker = `${topic}/marker`;
      const sub = await subscriber(B, version, [topic, marker]);
      const pub = await connect(A.url, { protocolVersion: version });
      await routed(pub, sub.inbox, topic, marker);
      await sub.client.unsubscribeAsync(topic);
      // At once: the route may still point at B, which must not deliver it anyway.
      await pub.publishAsync(topic, 'after unsubscribe', { qos: 1 });
      const got = await untilMarker(pub, sub.inbox, marker, 1);
      assert.deepEqual(sub.inbox.pairs(got), [[marker, 'marker']]);
      await end(pub, sub.client);
    });

    test(`${rule(version, ['MQTT-3.1.4-2'], ['MQTT-3.1.4-3'])} v${version}: a CONNECT on B with the id of a client connected on A closes the older connection${version === 5 ? ' with DISCONNECT 0x8E' : ''}`, async () => {
      const clientId = unique('takeover');
      const first = await connect(A.url, { protocolVersion: version, clientId });
      let disconnect: IDisconnectPacket | undefined;
      first.on('disconnect', (packet) => (disconnect = packet));
      const firstClosed = closed(first);
      const second = await connect(B.url, { protocolVersion: version, clientId });
      await firstClosed;
      if (version === 5) assert.equal(disconnect?.reasonCode, ReasonCode.SessionTakenOver);
      else assert.equal(disconnect, undefined);

      // The new connection is the one that lives on: it gets what C publishes.
      const topic = unique('takeover');
      const inbox = new Inbox(second);
      await second.subscribeAsync(topic, { qos: 1 });
      const pub = await connect(C.url, { protocolVersion: version });
      await routed(pub, inbox, topic);
      await pub.publishAsync(topic, 'still here', { qos: 1 });
      assert.deepEqual(payloads(await inbox.until((m) => m.payload.toString() === 'still here')), ['still here']);
      assert.equal(second.connected, true);
      await end(first, second, pub);
    });

    test(`${rule(version, ['MQTT-3.1.2-4'], ['MQTT-3.1.2-5'])} v${version}: a persistent session taken over from A by B keeps its subscriptions (session present 1)`, async () => {
      const clientId = unique('takeover-session');
      const topic = unique('takeover-session');
      const first = await connect(A.url, persistent(version, clientId));
      await first.subscribeAsync(topic, { qos: 1 });
      const firstClosed = closed(first);
      const { client: second, inbox } = await connectWithInbox(B.url, persistent(version, clientId));
      await firstClosed;
      assert.equal(connackOf(second).sessionPresent, true);
      const pub = await connect(C.url, { protocolVersion: version });
      await routed(pub, inbox, topic);
      await pub.publishAsync(topic, 'resumed', { qos: 1 });
      assert.deepEqual(payloads(await inbox.until((m) => m.payload.toString() === 'resumed')), ['resumed']);
      await end(first, second, pub);
    });

    test(`[MQTT-3.1.2-8] v${version}: the will of a client on A whose connection drops is published to a subscriber on B`, async () => {
      const p = unique('will-drop');
      const watcher = await subscriber(B, version, [`${p}/#`]);
      const probe = await connect(A.url, { protocolVersion: version });
      await routed(probe, watcher.inbox, `${p}/probe`);
      const client = await connect(A.url, { protocolVersion: version, will: { topic: `${p}/will`, payload: Buffer.from('gone'), qos: 1, retain: false } });
      drop(client);
      const [will] = real(await watcher.inbox.untilTopic(`${p}/will`));
      assert.deepEqual([will!.topic, will!.payload.toString(), will!.packet.qos], [`${p}/will`, 'gone', 1]);
      await end(client, probe, watcher.client);
    });

    test(`[MQTT-3.1.2-10] [MQTT-3.14.4-3] v${version}: a client on A that sends DISCONNECT has its will discarded; nothing reaches B`, async () => {
      const p = unique('will-normal');
      const watcher = await subscriber(B, version, [`${p}/#`]);
      const probe = await connect(A.url, { protocolVersion: version });
      await routed(probe, watcher.inbox, `${p}/probe`);
      const client = await connect(A.url, { protocolVersion: version, will: { topic: `${p}/will`, payload: Buffer.from('gone'), qos: 1, retain: false } });
      await end(client); // resolves once the server closed the connection
      assert.deepEqual(watcher.inbox.pairs(await untilMarker(probe, watcher.inbox, `${p}/marker`, 1)), [[`${p}/marker`, 'marker']]);
      await end(probe, watcher.client);
    });

    test(`${rule(version, ['MQTT-3.1.2-17'], ['MQTT-3.1.2-15'])} v${version}: a will with Will Retain 1 of a client dropped on A is retained for a new subscriber on C`, async () => {
      const p = unique('will-retained');
      const watcher = await subscriber(B, version, [`${p}/#`]);
      const probe = await connect(A.url, { protocolVersion: version });
      await routed(probe, watcher.inbox, `${p}/probe`);
      const client = await connect(A.url, { protocolVersion: version, will: { topic: `${p}/will`, payload: Buffer.from('gone'), qos: 1, retain: true } });
      drop(client);
      await watcher.inbox.untilTopic(`${p}/will`);
      const late = await subscriber(C, version, [`${p}/will`]);
      const [retained] = await late.inbox.waitFor(1);
      assert.deepEqual([retained!.topic, retained!.payload.toString(), retained!.packet.retain], [`${p}/will`, 'gone', true]);
      await end(client, probe, watcher.client, late.client);
    });
  });
}

describe('v5 only, across nodes', () => {
  test('[MQTT-3.3.1-13] v5: with Retain As Published a subscriber on B sees the RETAIN flag published on A', async () => {
    const topic = unique('rap');
    const sub = await connect(B.url, { protocolVersion: 5 });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1, rap: true });
    const pub = await connect(A.url, { protocolVersion: 5 });
    await routed(pub, inbox, topic);
    await pub.publishAsync(topic, 'retained', { qos: 1, retain: true });
    await pub.publishAsync(topic, 'plain', { qos: 1, retain: false });
    const got = real(await inbox.until((m) => m.payload.toString() === 'plain'));
    assert.deepEqual(got.map((m) => [m.payload.toString(), m.packet.retain]), [['retained', true], ['plain', false]]);
    await end(sub, pub);
  });

  test('[MQTT-3.8.3-3] v5: No Local keeps a client on A from its own messages; a subscriber on B still gets them', async () => {
    const topic = unique('no-local');
    const marker = `${topic}/marker`;
    const self = await connect(A.url, { protocolVersion: 5 });
    const selfInbox = new Inbox(self);
    await self.subscribeAsync(topic, { qos: 1, nl: true });
    await self.subscribeAsync(marker, { qos: 1 });
    const other = await subscriber(B, 5, [topic]);
    await routed(self, other.inbox, topic);
    await self.publishAsync(topic, 'mine', { qos: 1 });
    assert.deepEqual(selfInbox.pairs(await untilMarker(self, selfInbox, marker, 1)), [[marker, 'marker']]);
    assert.deepEqual(other.inbox.pairs(real(await other.inbox.until((m) => m.payload.toString() === 'mine'))), [[topic, 'mine']]);
    await end(self, other.client);
  });

  test('[MQTT-3.3.4-3] [MQTT-3.3.4-4] v5: a message from A carries the Subscription Identifiers of the overlapping subscriptions on B', async () => {
    const p = unique('sub-ids');
    const sub = await connect(B.url, { protocolVersion: 5 });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(`${p}/+`, { qos: 1, properties: { subscriptionIdentifier: 5 } });
    await sub.subscribeAsync(`${p}/#`, { qos: 1, properties: { subscriptionIdentifier: 9 } });
    await sub.subscribeAsync(`${p}/only/plus`, { qos: 1, properties: { subscriptionIdentifier: 11 } });
    const pub = await connect(A.url, { protocolVersion: 5 });
    await routed(pub, inbox, `${p}/probe`, `${p}/probe/deep`, `${p}/only/plus`);
    await pub.publishAsync(`${p}/x`, 'both', { qos: 1 });
    await pub.publishAsync(`${p}/only/plus`, 'two', { qos: 1 });
    const got = real(await inbox.until((m) => m.payload.toString() === 'two'));
    assert.deepEqual(inbox.pairs(got), [[`${p}/x`, 'both'], [`${p}/only/plus`, 'two']]);
    const ids = (m: Received) => [m.packet.properties?.subscriptionIdentifier].flat().sort((a, b) => a! - b!);
    assert.deepEqual(got.map(ids), [[5, 9], [9, 11]]);
    await end(sub, pub);
  });

  test('[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] v5: application properties published on A reach B unaltered', async () => {
    const topic = unique('properties');
    const sub = await subscriber(B, 5, [topic]);
    const pub = await connect(A.url, { protocolVersion: 5 });
    await routed(pub, sub.inbox, topic);
    const properties = {
      payloadFormatIndicator: true,
      responseTopic: 'replies/for/me',
      correlationData: Buffer.from([0, 1, 2, 0xfe, 0xff]),
      userProperties: { zulu: '1', alpha: ['2', '3'], mike: '4', empty: '' },
      contentType: 'application/vnd.roost+json; charset=utf-8',
    };
    await pub.publishAsync(topic, 'ünïcödé', { qos: 1, properties });
    const [message] = real(await sub.inbox.until((m) => !isProbe(m)));
    const got = message!.packet.properties!;
    assert.equal(message!.payload.toString(), 'ünïcödé');
    assert.equal(got.payloadFormatIndicator, true);
    assert.equal(got.responseTopic, properties.responseTopic);
    assert.deepEqual(got.correlationData, properties.correlationData);
    assert.deepEqual(Object.entries(got.userProperties ?? {}), Object.entries(properties.userProperties));
    assert.equal(got.contentType, properties.contentType);
    await end(sub.client, pub);
  });

  test('[MQTT-3.3.2-6] v5: a message forwarded at once from A to B carries its Message Expiry Interval', async () => {
    const topic = unique('expiry-live');
    const sub = await subscriber(B, 5, [topic]);
    const pub = await connect(A.url, { protocolVersion: 5 });
    await routed(pub, sub.inbox, topic);
    await pub.publishAsync(topic, 'fresh', { qos: 1, properties: { messageExpiryInterval: 60 } });
    const [message] = real(await sub.inbox.until((m) => !isProbe(m)));
    const remaining = message!.packet.properties?.messageExpiryInterval;
    assert.ok(remaining === 60 || remaining === 59, `remaining ${remaining}`);
    await end(sub.client, pub);
  });

  // The timed tests run together, so their waits overlap.
  describe('timed: message expiry while queued, will delay', { concurrency: true }, () => {
    /**
     * A persistent session subscribes on A and leaves; B publishes `messages`; after `ms` the
     * session resumes on C. Returns what it got before a marker.
     */
    async function queuedFor(ms: number, messages: Array<[string, number | undefined]>): Promise<Received[]> {
      const clientId = unique('expiry');
      const p = unique('expiry');
      const options = persistent(5, clientId);
      const first = await subscriber(A, 5, [`${p}/#`], 1, options);
      const pub = await connect(B.url, { protocolVersion: 5 });
      await routed(pub, first.inbox, `${p}/probe`);
      await end(first.client);
      for (const [payload, messageExpiryInterval] of messages) {
        await pub.publishAsync(`${p}/m`, payload, { qos: 1, properties: messageExpiryInterval === undefined ? {} : { messageExpiryInterval } });
      }
      await delay(ms); // the elapsed time is the behaviour under test
      const { client: second, inbox } = await connectWithInbox(C.url, options);
      await routed(pub, inbox, `${p}/probe`);
      const got = await untilMarker(pub, inbox, `${p}/marker`, 1);
      await end(second, pub);
      return got.filter((m) => m.topic === `${p}/m`);
    }

    test('[MQTT-3.3.2-5] v5: a message from B whose expiry passed while queued for a session of A is not delivered on C', async () => {
      const got = await queuedFor(1100, [['expires', 1], ['stays', undefined]]);
      assert.deepEqual(got.map((m) => m.payload.toString()), ['stays']);
    });

    /** A v5 client on A with a will delayed 1 s on `${p}/will`, and a watcher of `${p}/#` on C that A reaches. */
    async function delayedWill(clientId: string) {
      const p = unique('will-delay');
      const watcher = await subscriber(C, 5, [`${p}/#`]);
      const probe = await connect(A.url, { protocolVersion: 5 });
      await routed(probe, watcher.inbox, `${p}/probe`);
      const client = await connect(A.url, {
        ...persistent(5, clientId),
        will: { topic: `${p}/will`, payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 1 } },
      });
      return { p, watcher, probe, client };
    }

    test('[MQTT-3.1.2-8] v5: the delayed will of a client dropped on A reaches C once the Will Delay Interval has passed', async () => {
      const { p, watcher, probe, client } = await delayedWill(unique('will-delay'));
      const dropped = Date.now();
      drop(client);
      const [will] = real(await watcher.inbox.untilTopic(`${p}/will`, 4000));
      assert.equal(will!.payload.toString(), 'gone');
      assert.ok(Date.now() - dropped >= 950, 'not before the delay');
      await end(client, probe, watcher.client);
    });

    test('[MQTT-3.1.3-9] v5: a client dropped on A that resumes its session on B within the Will Delay Interval has no will published', async () => {
      const clientId = unique('will-resumed');
      const { p, watcher, probe, client } = await delayedWill(clientId);
      drop(client);
      const resumed = await connect(B.url, persistent(5, clientId));
      assert.equal(connackOf(resumed).sessionPresent, true);
      await delay(1500); // the elapsed time is the behaviour under test
      assert.deepEqual(watcher.inbox.pairs(await untilMarker(probe, watcher.inbox, `${p}/marker`, 1)), [[`${p}/marker`, 'marker']]);
      await end(client, resumed, probe, watcher.client);
    });

    test('[MQTT-3.3.2-6] v5: a message queued across nodes is sent with its Message Expiry Interval less the time it waited', async () => {
      const [message] = await queuedFor(1100, [['ageing', 10]]);
      const remaining = message!.packet.properties?.messageExpiryInterval;
      assert.ok(remaining !== undefined && remaining >= 8 && remaining <= 9, `remaining ${remaining}`);
    });
  });

  test('[§4.8.2] v5: members of a shared subscription on A, B and C: each message published on A goes to exactly one of them', async () => {
    const topic = unique('shared');
    const marker = `${topic}-marker`;
    const members = await Promise.all([A, B, C].map(async (node) => {
      const s = await subscriber(node, 5, [`$share/workers/${topic}`]);
      await s.client.subscribeAsync(marker, { qos: 1 });
      return s;
    }));
    const pub = await connect(A.url, { protocolVersion: 5 });
    await untilEveryMember(pub, members.map((m) => m.inbox), topic);
    for (const m of members) await routed(pub, m.inbox, marker);
    const count = 30;
    const sent = Array.from({ length: count }, (_, i) => `m${i}`);
    // Each QoS 1 publish is acknowledged once the chosen member's node took the message.
    for (const payload of sent) await pub.publishAsync(topic, payload, { qos: 1 });
    const received = await Promise.all(members.map(async ({ inbox }) => payloads((await untilMarker(pub, inbox, marker, 1)).filter((m) => m.topic === topic))));
    assert.deepEqual(received.flat().sort(), [...sent].sort(), 'every message once, none twice');
    assert.ok(received.every((r) => r.length > 0), `every node took a share: ${received.map((r) => r.length)}`);
    await end(pub, ...members.map((m) => m.client));
  });

  test('[§4.8.2] v5: a shared group on B and C and a plain subscriber on C each get every message from A', async () => {
    const topic = unique('groups');
    const marker = `${topic}-marker`;
    const group = await Promise.all([B, C].map((node) => subscriber(node, 5, [`$share/g/${topic}`, marker])));
    const plain = await subscriber(C, 5, [topic, marker]);
    const pub = await connect(A.url, { protocolVersion: 5 });
    await untilEveryMember(pub, group.map((m) => m.inbox), topic);
    for (const s of [...group, plain]) await routed(pub, s.inbox, marker);
    await routed(pub, plain.inbox, topic);
    const sent = Array.from({ length: 10 }, (_, i) => `m${i}`);
    for (const payload of sent) await pub.publishAsync(topic, payload, { qos: 1 });
    const got = await Promise.all([...group, plain].map(async ({ inbox }) => payloads((await untilMarker(pub, inbox, marker, 1)).filter((m) => m.topic === topic))));
    assert.deepEqual([...got[0]!, ...got[1]!].sort(), [...sent].sort());
    assert.deepEqual(got[2], sent);
    await end(pub, plain.client, ...group.map((m) => m.client));
  });
});

/**
 * Shared routes: a probe reaches one member only, so probes go out until every member (each on
 * its own node, taking turns) has had one.
 */
async function untilEveryMember(publisher: MqttClient, inboxes: Inbox[], topic: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const waiting = inboxes.filter((inbox) => !inbox.messages.some((m) => m.topic === topic && isProbe(m)));
    if (waiting.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${waiting.length} shared members never got a probe on ${topic} within ${ms} ms`);
    await publisher.publishAsync(topic, PROBE, { qos: 0 });
    await waiting[0]!.until((m) => m.topic === topic && isProbe(m), 50).catch(() => undefined);
  }
}

// Last in the file: its '#' subscription matches every topic, and its route may outlive it for a moment.
for (const version of [4, 5] as const) {
  // '$' topics are the server's (§4.7.2): a client's PUBLISH to one is refused, so no such
  // message crosses nodes to test [MQTT-4.7.2-1] with (the tries' unit tests check the
  // matching); what is checked here is that a refused '$' PUBLISH reaches no one, anywhere.
  test(`[MQTT-4.7.2-1] v${version}: a client's PUBLISH to a '$' topic on A reaches no subscriber on any node, '#', '+/x' or a literal '$' filter`, async () => {
    const p = unique('dollar');
    const dollar = `$${p}`;
    const wild = await subscriber(B, version, ['#', '+/x'], 1);
    const literal = await subscriber(C, version, [`${dollar}/#`, `${p}/marker`], 1);
    const pub = await connect(A.url, { protocolVersion: version });
    await routed(pub, wild.inbox, `${p}/probe`, `${p}/x`);
    await routed(pub, literal.inbox, `${p}/marker`, `${p}/marker`);
    const publishing = pub.publishAsync(`${dollar}/x`, 'dollar', { qos: 1 });
    // v5: PUBACK 0x87 Not authorized; v3.1.1 has no negative PUBACK: acknowledged and dropped.
    if (version === 5) await assert.rejects(publishing, (error: Error & { code?: number }) => error.code === ReasonCode.NotAuthorized);
    else await publishing;
    const got = (inbox: Inbox) => untilMarker(pub, inbox, `${p}/marker`, 1).then((messages) => inbox.pairs(messages.filter((m) => m.topic.startsWith(dollar) || m.topic === `${p}/marker`)));
    assert.deepEqual(await got(wild.inbox), [[`${p}/marker`, 'marker']]);
    assert.deepEqual(await got(literal.inbox), [[`${p}/marker`, 'marker']]);
    await end(pub, wild.client, literal.client);
  });
}
