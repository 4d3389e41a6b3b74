// Shared-subscription strategies across nodes, set per share name (ROOST_SHARED_GROUP_STRATEGIES).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startCluster, untilRouted, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster(3, {
    env: { ROOST_SHARED_STRATEGY: 'round_robin', ROOST_SHARED_GROUP_STRATEGIES: 'near=local,bypub=hash_clientid,bytopic=hash_topic' },
  });
});
after(async () => {
  await cluster.stop();
});

interface Member {
  node: NodeProcess;
  client: MqttClient;
  inbox: Inbox;
}

/**
 * One member of `$share/{group}/{base}/#` on each node, and a publisher on `publisherNode` that
 * knows every member's route. Each member also subscribes to a probe topic of its own after
 * the shared filter: a node's route changes reach the others in order, so once the publisher's
 * node routes a member's probe, it knows that member's shared route too.
 */
async function groupOnEveryNode(group: string, publisherNode: NodeProcess) {
  const base = unique(group);
  const members: Member[] = [];
  for (const node of cluster.nodes) {
    const client = await connect(node.url, { protocolVersion: 5 });
    const inbox = new Inbox(client);
    await client.subscribeAsync(`$share/${group}/${base}/#`, { qos: 1 });
    await client.subscribeAsync(`${base}-probe/${node.nodeId}`, { qos: 0 });
    members.push({ node, client, inbox });
  }
  const publishers: MqttClient[] = [];
  const publisher = async () => {
    const client = await connect(publisherNode.url, { protocolVersion: 5, clientId: unique('pub') });
    publishers.push(client);
    return client;
  };
  const first = await publisher();
  for (const member of members) await untilRouted(first, member.inbox, `${base}-probe/${member.node.nodeId}`);
  const received = (member: Member) => member.inbox.messages.filter((m) => m.topic.startsWith(`${base}/`)).map((m) => m.payload.toString());
  const close = () => end(...members.map((m) => m.client), ...publishers);
  return { base, members, first, publisher, received, close };
}

/** What each member got of the group's messages, once they hold `count` together (or after 10 s). */
async function allArrived(members: Member[], received: (m: Member) => string[], count: number): Promise<string[][]> {
  const total = () => members.reduce((sum, m) => sum + received(m).length, 0);
  // Any member's inbox wakes the check; the last one to receive ends the wait.
  await Promise.any(members.map((m) => m.inbox.until(() => total() >= count, 10_000))).catch(() => undefined);
  const got = members.map(received);
  assert.equal(got.flat().length, count, `each message reached exactly one member: ${JSON.stringify(got)}`);
  return got;
}

test('[§4.8.2] local: members on the publishing node take every message while they are there', async () => {
  const [, b] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
  const { base, members, first, received, close } = await groupOnEveryNode('near', b);
  for (let i = 0; i < 12; i++) await first.publishAsync(`${base}/t`, `m${i}`, { qos: 1 });
  const got = await allArrived(members, received, 12);
  assert.deepEqual(got.map((messages) => messages.length), members.map((m) => (m.node === b ? 12 : 0)));
  await close();
});

test('[§4.8.2] hash_clientid: every message of one publisher goes to the same member', async () => {
  const [a] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
  const { base, members, publisher, received, close } = await groupOnEveryNode('bypub', a);
  const publishers = [await publisher(), await publisher(), await publisher(), await publisher()];
  for (let i = 0; i < 6; i++) for (const [p, client] of publishers.entries()) await client.publishAsync(`${base}/t`, `p${p}:${i}`, { qos: 1 });
  const got = await allArrived(members, received, 24);
  for (const p of publishers.keys()) {
    const holders = got.filter((messages) => messages.some((m) => m.startsWith(`p${p}:`)));
    assert.equal(holders.length, 1, `publisher ${p} stuck to one member: ${JSON.stringify(got)}`);
    assert.equal(holders[0]!.filter((m) => m.startsWith(`p${p}:`)).length, 6);
  }
  await close();
});

test('[§4.8.2] hash_topic: every message on one topic goes to the same member', async () => {
  const [, , c] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
  const { base, members, first, received, close } = await groupOnEveryNode('bytopic', c);
  const topics = ['a', 'b', 'c', 'd', 'e'];
  for (let i = 0; i < 4; i++) for (const t of topics) await first.publishAsync(`${base}/${t}`, `${t}:${i}`, { qos: 1 });
  const got = await allArrived(members, received, 20);
  for (const t of topics) {
    const holders = got.filter((messages) => messages.some((m) => m.startsWith(`${t}:`)));
    assert.equal(holders.length, 1, `topic ${t} stuck to one member: ${JSON.stringify(got)}`);
  }
  await close();
});

test('[§4.8.2] round_robin (the default): the nodes take turns, so every member gets an equal share', async () => {
  const [a] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
  const { base, members, first, received, close } = await groupOnEveryNode('turns', a);
  for (let i = 0; i < 30; i++) await first.publishAsync(`${base}/t`, `m${i}`, { qos: 1 });
  const got = await allArrived(members, received, 30);
  assert.deepEqual(got.map((messages) => messages.length), [10, 10, 10]);
  await close();
});
