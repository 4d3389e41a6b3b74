// A QoS 2 PUBLISH sent from a session's queue (the window refilled) goes to the socket only
// once the session write naming its packet id is in Redis. Sent before, a node killed in
// between leaves a stored session that still queues the message: the session resumed
// elsewhere sends it again as a new message, under whatever id comes next, while the client
// holds the first copy's id awaiting PUBREL (a second delivery, or a later message taken for a
// duplicate and lost; a shared group's survivor hands it to another member).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { connect, end, unique } from '../helpers/clients.ts';
import { startDelayProxy, type DelayProxy } from '../helpers/delay-proxy.ts';
import { RawClient, type PacketOf } from '../helpers/raw-client.ts';

/** The holder reaches Redis through this delay (ms per chunk, each way): the test cuts its writes off well inside it. */
const HOLDER_REDIS_DELAY = 60;

let cluster: TestCluster;
let proxy: DelayProxy;
let holder: NodeProcess;

before(async () => {
  cluster = await startCluster(1);
  proxy = await startDelayProxy(cluster.redis.url, HOLDER_REDIS_DELAY);
  holder = await cluster.addNode({ ROOST_REDIS_URL: proxy.url });
});

after(async () => {
  await cluster?.stop();
  await proxy?.stop();
});

test('[MQTT-4.4.0-1] a QoS 2 message sent from the queue, its node then killed: the session resumed elsewhere resends it under its packet id with DUP', async () => {
  const survivor = cluster.nodes[0]!;
  const clientId = unique('queued-qos2');
  const topic = unique('q2');
  const fields = { clientId, clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: 1 } };
  const { client: subscriber, connack } = await RawClient.connect(holder.mqttPort, 5, fields);
  assert.equal(connack.reasonCode, 0);
  await subscriber.subscribe([{ topic, qos: 2 }]);

  // Two messages into a window of one: the second waits in the session's queue.
  const publisher = await connect(holder.url, { protocolVersion: 5 });
  await Promise.all([publisher.publishAsync(topic, 'first', { qos: 2 }), publisher.publishAsync(topic, 'second', { qos: 2 })]);
  await end(publisher);
  const first = await subscriber.next('publish');
  assert.equal(first.payload.toString(), 'first');
  subscriber.send({ cmd: 'pubrec', messageId: first.messageId! });
  await subscriber.next('pubrel');
  subscriber.send({ cmd: 'pubcomp', messageId: first.messageId! });

  // The PUBCOMP frees the window: the queued message goes out. The moment it arrives, the
  // holder dies and what it was still writing to Redis is lost with it.
  const second = await subscriber.next('publish');
  holder.child.kill('SIGKILL');
  proxy.sever();
  assert.equal(second.payload.toString(), 'second');
  await holder.exited;
  subscriber.destroy();

  // The client never acknowledged it: it is owed again, as it was sent [MQTT-4.4.0-1].
  const { client: again, connack: resumed } = await RawClient.connect(survivor.mqttPort, 5, fields);
  assert.equal(resumed.sessionPresent, true);
  const resent = await nextPublish(again);
  assert.deepEqual(
    { payload: resent.payload.toString(), messageId: resent.messageId, dup: resent.dup },
    { payload: 'second', messageId: second.messageId, dup: true },
  );
  await again.end();
});

/** The next PUBLISH, completing on the way any PUBREL the resumed session resends, as a client does. */
async function nextPublish(client: RawClient): Promise<PacketOf<'publish'>> {
  for (;;) {
    const packet = await client.next(undefined, 10_000);
    if (packet.cmd === 'publish') return packet;
    if (packet.cmd === 'pubrel') client.send({ cmd: 'pubcomp', messageId: packet.messageId! });
    else throw new Error(`unexpected ${packet.cmd} after the resume`);
  }
}
