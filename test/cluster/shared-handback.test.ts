// Shared-subscription messages a member never received go to another member of the group,
// on another node, when the member leaves or its node dies (MQTT 5 4.8.2).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IConnectPacket } from 'mqtt-packet';
import { startCluster, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { RawClient } from '../helpers/raw-client.ts';

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster(3);
});
after(async () => {
  await cluster.stop();
});

const persistent: Partial<IConnectPacket> = { clean: true, properties: { sessionExpiryInterval: 300 } };
const sent = (count: number) => Array.from({ length: count }, (_, i) => `m${i}`).sort();

/**
 * A member on `holderNode` that never acknowledges, an acknowledging member on `ackerNode`,
 * and `count` QoS 1 messages published on `publisherNode` once both routes are known there.
 * Resolves when the withholding member holds at least one of them.
 */
async function withheldOn(holderNode: NodeProcess, ackerNode: NodeProcess, publisherNode: NodeProcess, count: number, holderFields = persistent) {
  const topic = unique('handback');
  const filter = `$share/hb/${topic}`;
  const { client: holder } = await RawClient.connect(holderNode.mqttPort, 5, { ...holderFields, clientId: unique('holder') });
  await holder.subscribe([{ topic: filter, qos: 1 }]);
  const acker = await connect(ackerNode.url, { protocolVersion: 5, clientId: unique('acker'), properties: { sessionExpiryInterval: 300 } });
  const inbox = new Inbox(acker);
  await acker.subscribeAsync(filter, { qos: 1 });
  const pub = await connect(publisherNode.url, { protocolVersion: 5 });
  // Both members' routes must have reached the publisher's node before the messages count.
  let first = 0;
  for (;; first++) {
    await pub.publishAsync(topic, `probe${first}`, { qos: 1 });
    if (holder.unread.some((p) => p.cmd === 'publish') && inbox.messages.length > 0) break;
    await inbox.until(() => true, 50).catch(() => undefined);
  }
  for (let i = 0; i < count; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
  // A PUBACK to the publisher means each message was handed to a member's session: both now have some.
  await holder.next('publish');
  return { holder, acker, inbox, pub, topic };
}

/** The distinct m0..m{count-1} payloads once all arrived (or what came, sorted, after `ms`). */
async function allPublished(inbox: Inbox, count: number, ms: number): Promise<string[]> {
  const numbered = () => new Set(inbox.messages.map((m) => m.payload.toString()).filter((p) => /^m\d+$/.test(p)));
  await inbox.until(() => numbered().size >= count, ms).catch(() => undefined);
  return [...numbered()].sort();
}

test('[§4.8.2] v5: messages a member on A leaves unacknowledged when its connection drops go to a member on B', async () => {
  const [a, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
  const { holder, acker, inbox, pub } = await withheldOn(a, b, c, 20);
  holder.destroy();
  assert.deepEqual(await allPublished(inbox, 20, 10_000), sent(20));
  await end(acker, pub);
});

test('[§4.8.2] v5: messages a member held unacknowledged on a node killed with SIGKILL go to a member on another node, and later ones to connected members only', async () => {
  const victim = await cluster.addNode();
  const [, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
  const { acker, inbox, pub, topic } = await withheldOn(victim, b, c, 20);
  await victim.kill();
  assert.deepEqual(await allPublished(inbox, 20, 15_000), sent(20));
  // The survivor that adopted the dead member's session holds it offline; new messages go to
  // the connected member rather than queueing there.
  for (let i = 20; i < 30; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
  assert.deepEqual(await allPublished(inbox, 30, 5000), sent(30));
  await end(acker, pub);
});

test('[§4.8.2] v5: a member with a clean session on a node killed with SIGKILL loses nothing: its unacknowledged messages go to another member', async () => {
  const victim = await cluster.addNode();
  const [, b, c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
  const { acker, inbox, pub } = await withheldOn(victim, b, c, 20, { clean: true, properties: { sessionExpiryInterval: 0 } });
  await victim.kill();
  assert.deepEqual(await allPublished(inbox, 20, 15_000), sent(20));
  await end(acker, pub);
});
