import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, untilRouted, type TestCluster } from '../helpers/cluster.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster(2);
});
after(async () => {
  await cluster.stop();
});

test('a message published on one node reaches a subscriber on another', async () => {
  const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
  const topic = unique('smoke');
  const sub = await connect(a.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(`${topic}/#`, { qos: 1 });
  const pub = await connect(b.url, { protocolVersion: 5 });
  await untilRouted(pub, inbox, `${topic}/probe`);
  await pub.publishAsync(`${topic}/x`, 'hello', { qos: 1 });
  const got = await inbox.untilTopic(`${topic}/x`);
  assert.equal(got.at(-1)!.payload.toString(), 'hello');
  await end(sub, pub);
});
