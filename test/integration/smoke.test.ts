import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, end, Inbox } from '../helpers/clients.ts';

let server: TestBroker;
before(async () => (server = await startBroker()));
after(() => server.stop());

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: QoS 0, 1, 2 publish reaches a subscriber`, async () => {
    const sub = await connect(server.url, { protocolVersion });
    const pub = await connect(server.url, { protocolVersion });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync('smoke/+', { qos: 2 });
    for (const qos of [0, 1, 2] as const) await pub.publishAsync(`smoke/${qos}`, `m${qos}`, { qos });
    const got = await inbox.waitFor(3);
    assert.deepEqual(got.map((m) => [m.topic, m.payload.toString(), m.packet.qos]), [
      ['smoke/0', 'm0', 0],
      ['smoke/1', 'm1', 1],
      ['smoke/2', 'm2', 2],
    ]);
    await end(sub, pub);
  });
}
