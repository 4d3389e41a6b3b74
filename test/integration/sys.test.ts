// $SYS topics: published by the broker every sysInterval, retained, and hidden from
// filters that start with a wildcard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';

let server: TestBroker;
before(async () => (server = await startBroker({}, 1)));
after(() => server.stop());

const SYS_TOPICS = [
  '$SYS/broker/version',
  '$SYS/broker/uptime',
  '$SYS/broker/clients/connected',
  '$SYS/broker/subscriptions/count',
  '$SYS/broker/messages/received',
  '$SYS/broker/messages/sent',
];

for (const version of [4, 5] as const) {
  test(`[§4.7.2] v${version}: the broker publishes retained $SYS/broker topics`, async () => {
    const sub = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync('$SYS/broker/#', { qos: 0 });
    await inbox.until(() => SYS_TOPICS.every((t) => inbox.messages.some((m) => m.topic === t)));
    const versionMessage = inbox.messages.find((m) => m.topic === '$SYS/broker/version')!;
    assert.match(versionMessage.payload.toString(), /^roost /);
    assert.equal(versionMessage.packet.retain, true, 'sent on SUBSCRIBE as a retained message');
    await end(sub);
  });

  test(`[MQTT-4.7.2-1] v${version}: filters starting with a wildcard do not match $SYS topics`, async () => {
    const marker = unique('sys-marker');
    const sub = await connect(server.url, { protocolVersion: version });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(['#', '+/broker/#', '+/+/version'], { qos: 0 }); // retained $SYS would follow the SUBACK
    // Wait for a live round too: once a control subscriber has it, it was routed to all.
    const control = await connect(server.url, { protocolVersion: version });
    const controlInbox = new Inbox(control);
    await control.subscribeAsync('$SYS/broker/uptime', { qos: 0 });
    await controlInbox.until((m) => !m.packet.retain, 3000);
    await sub.publishAsync(marker, 'marker', { qos: 1 });
    assert.deepEqual(inbox.pairs(await inbox.untilTopic(marker)), [[marker, 'marker']]);
    await end(sub, control);
  });
}

test('[§4.7.2] $SYS values are republished every sysInterval', async () => {
  const sub = await connect(server.url, { protocolVersion: 5 });
  const inbox = new Inbox(sub);
  const others = await Promise.all([1, 2].map(() => connect(server.url, { protocolVersion: 5 })));
  await sub.subscribeAsync('$SYS/broker/clients/connected', { qos: 0 });
  const [retained] = await inbox.waitFor(1);
  assert.equal(retained!.packet.retain, true);
  // A later round is forwarded live (RETAIN 0) and counts the connections now open.
  const connected = String(server.broker.clientCount);
  const got = await inbox.until((m) => !m.packet.retain && m.payload.toString() === connected, 3000);
  assert.ok(got.length >= 2);
  await end(sub, ...others);
});
