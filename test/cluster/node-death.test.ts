// What a node killed with SIGKILL leaves behind for the clients it held.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { connackOf, connect, end, unique } from '../helpers/clients.ts';

let cluster: TestCluster;
before(async () => {
  cluster = await startCluster(2);
});
after(async () => {
  await cluster.stop();
});

test('[MQTT-3.1.2-6] v3.1.1: a clean session held by a killed node is not resumed by a later CONNECT with CleanSession 0', async () => {
  const survivors = [...cluster.nodes];
  const victim = await cluster.addNode();
  const clientId = unique('clean');
  const client = await connect(victim.url, { protocolVersion: 4, clientId, clean: true });
  await client.subscribeAsync(`${clientId}/t`, { qos: 1 });
  await victim.kill();
  client.end(true);
  // One survivor reaps the dead node (adopts or ends its sessions); then the client comes back.
  await Promise.any(survivors.map((node) => node.waitLog((line) => line.msg === 'reaped dead node' && line.deadNode === victim.nodeId)));
  const again = await connect(survivors[0]!.url, { protocolVersion: 4, clientId, clean: false });
  assert.equal(connackOf(again).sessionPresent, false);
  await end(again);
});
