// Last Will: when it is published, when it is discarded, will delay and will retain.
// Every test has its own topics, so they run concurrently to overlap the timed ones.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import { ReasonCode } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { connackOf, connect, drop, end, Inbox, unique } from '../helpers/clients.ts';
import { RawClient, isAccepted } from '../helpers/raw-client.ts';

let server: TestBroker;
before(async () => (server = await startBroker()));
after(() => server.stop());

/** A subscriber to `topic` (and `topic/marker`), ready once its SUBACK is in. */
async function watch(topic: string, version: 4 | 5 = 5) {
  const watcher = await connect(server.url, { protocolVersion: version });
  const inbox = new Inbox(watcher);
  await watcher.subscribeAsync([topic, `${topic}/marker`], { qos: 1 });
  /** Publishes a marker and resolves with everything the watcher got up to it. */
  const untilMarker = async () => {
    await watcher.publishAsync(`${topic}/marker`, 'marker', { qos: 1 });
    return inbox.pairs(await inbox.untilTopic(`${topic}/marker`));
  };
  return { watcher, inbox, untilMarker };
}

function willOptions(version: 4 | 5, topic: string, will: Partial<NonNullable<IClientOptions['will']>> = {}): IClientOptions {
  return { protocolVersion: version, will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false, ...will } };
}

describe('will', { concurrency: true }, () => {
  for (const version of [4, 5] as const) {
    test(`[MQTT-3.1.2-8] v${version}: the will is published when the connection closes without DISCONNECT`, async () => {
      const topic = unique('will/drop');
      const { watcher, inbox } = await watch(topic, version);
      const client = await connect(server.url, willOptions(version, topic));
      drop(client);
      const [will] = await inbox.waitFor(1);
      assert.deepEqual([will!.topic, will!.payload.toString(), will!.packet.qos], [topic, 'gone', 1]);
      await end(client, watcher);
    });

    test(`[MQTT-3.1.2-8] v${version}: the will is published when keep alive times out`, async () => {
      const topic = unique('will/keepalive');
      const { watcher, inbox } = await watch(topic, version);
      const client = await RawClient.open(server.port, version);
      const sent = Date.now();
      const connack = await client.connect({ keepalive: 1, will: { topic, payload: Buffer.from('timed out'), qos: 0, retain: false } });
      assert.ok(isAccepted(connack));
      const [will] = await inbox.waitFor(1, 4000);
      assert.equal(will!.payload.toString(), 'timed out');
      assert.ok(Date.now() - sent >= 1450, 'not before 1.5x keep alive');
      await client.end();
      await end(watcher);
    });

    test(`[MQTT-3.1.2-8] v${version}: the will is published when the server closes the connection for a protocol error`, async () => {
      const topic = unique('will/violation');
      const { watcher, inbox } = await watch(topic, version);
      const { client } = await RawClient.connect(server.port, version, { will: { topic, payload: Buffer.from('violated'), qos: 0, retain: false } });
      client.send(client.connectPacket()); // [MQTT-3.1.0-2] a second CONNECT
      await client.waitClosed();
      const [will] = await inbox.waitFor(1);
      assert.equal(will!.payload.toString(), 'violated');
      await end(watcher);
    });

    test(`[MQTT-3.14.4-3] v${version}: a normal DISCONNECT discards the will`, async () => {
      const topic = unique('will/normal');
      const { watcher, untilMarker } = await watch(topic, version);
      const client = await connect(server.url, willOptions(version, topic));
      await end(client); // DISCONNECT 0x00; resolves once the server has closed the connection
      assert.deepEqual(await untilMarker(), [[`${topic}/marker`, 'marker']]);
      await end(watcher);
    });

    test(`[MQTT-3.1.2-14] v${version}: a will with Will Retain 0 is not retained`, async () => {
      const topic = unique('will/not-retained');
      const { watcher, inbox } = await watch(topic, version);
      const client = await connect(server.url, willOptions(version, topic, { retain: false }));
      drop(client);
      await inbox.waitFor(1);
      const { watcher: late, untilMarker } = await watch(topic, version);
      assert.deepEqual(await untilMarker(), [[`${topic}/marker`, 'marker']]);
      await end(client, watcher, late);
    });

    test(`[MQTT-3.1.2-15] v${version}: a will with Will Retain 1 is published as a retained message`, async () => {
      const topic = unique('will/retained');
      const { watcher, inbox } = await watch(topic, version);
      const client = await connect(server.url, willOptions(version, topic, { retain: true }));
      drop(client);
      await inbox.waitFor(1);
      const { watcher: late, inbox: lateInbox } = await watch(topic, version);
      const [retained] = await lateInbox.waitFor(1);
      assert.deepEqual([retained!.topic, retained!.payload.toString(), retained!.packet.retain], [topic, 'gone', true]);
      await end(client, watcher, late);
    });

    test(`[MQTT-3.1.4-1] v${version}: a will topic containing a wildcard is refused and the connection closed`, async () => {
      const client = await RawClient.open(server.port, version);
      client.send(client.connectPacket({ will: { topic: 'will/+', payload: Buffer.from('x'), qos: 0, retain: false } }));
      await client.waitClosed();
      if (version === 5) {
        const connack = client.unread.find((p) => p.cmd === 'connack');
        assert.equal(connack?.reasonCode, ReasonCode.TopicNameInvalid);
      } else {
        assert.deepEqual(client.unread, [], '(v3.1.1) a non-conforming CONNECT is closed without CONNACK');
      }
    });
  }

  test('[MQTT-3.1.2-8] v5: DISCONNECT 0x04 (Disconnect with Will Message) publishes the will', async () => {
    const topic = unique('will/0x04');
    const { watcher, inbox } = await watch(topic);
    const client = await connect(server.url, willOptions(5, topic));
    await client.endAsync(false, { reasonCode: ReasonCode.DisconnectWithWillMessage });
    const [will] = await inbox.waitFor(1);
    assert.equal(will!.payload.toString(), 'gone');
    await end(watcher);
  });

  test('[MQTT-3.1.2-8] v5: a will with a Will Delay Interval is published after the delay', async () => {
    const topic = unique('will/delay');
    const { watcher, inbox } = await watch(topic);
    const client = await connect(server.url, {
      ...willOptions(5, topic, { properties: { willDelayInterval: 1 } }),
      clientId: unique('will-delay'),
      clean: false,
      properties: { sessionExpiryInterval: 10 },
    });
    const dropped = Date.now();
    drop(client);
    await inbox.waitFor(1, 4000);
    assert.ok(Date.now() - dropped >= 950, `will after ${Date.now() - dropped} ms`);
    await end(client, watcher);
  });

  test('[MQTT-3.1.3-9] v5: reconnecting before the Will Delay Interval elapses cancels the will', async () => {
    const topic = unique('will/cancelled');
    const { watcher, inbox } = await watch(topic);
    const persistent = (clientId: string, payload: string): IClientOptions => ({
      ...willOptions(5, topic, { payload: Buffer.from(payload), properties: { willDelayInterval: 1 } }),
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 10 },
    });
    const idA = unique('will-a');
    const a = await connect(server.url, persistent(idA, 'a'));
    drop(a);
    const again = await connect(server.url, { protocolVersion: 5, clientId: idA, clean: false, properties: { sessionExpiryInterval: 10 } });
    assert.equal(connackOf(again).sessionPresent, true);
    // A control client with the same delay, dropped later: when its will arrives, a's timer,
    // started earlier with the same delay, would already have fired.
    const b = await connect(server.url, persistent(unique('will-b'), 'b'));
    drop(b);
    const got = await inbox.waitFor(1, 4000);
    assert.deepEqual(inbox.pairs(got), [[topic, 'b']]);
    assert.equal(inbox.messages.length, 1);
    await end(a, again, b, watcher);
  });

  test('[MQTT-3.1.2-8] v5: a delayed will is published when the session ends before the delay', async () => {
    const topic = unique('will/session-end');
    const { watcher, inbox } = await watch(topic);
    const client = await connect(server.url, {
      ...willOptions(5, topic, { properties: { willDelayInterval: 30 } }),
      clientId: unique('will-session-end'),
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    drop(client);
    const [will] = await inbox.waitFor(1, 4000);
    assert.equal(will!.payload.toString(), 'gone');
    await end(client, watcher);
  });

  test('[MQTT-3.1.3-10] v5: the will is published with its properties, User Properties in order', async () => {
    const topic = unique('will/properties');
    const { watcher, inbox } = await watch(topic);
    const properties = {
      contentType: 'text/plain',
      responseTopic: `${topic}/reply`,
      correlationData: Buffer.from([1, 2, 3]),
      payloadFormatIndicator: true,
      userProperties: { z: 'last-letter', a: ['first', 'second'] },
    };
    const client = await connect(server.url, willOptions(5, topic, { properties }));
    drop(client);
    const [will] = await inbox.waitFor(1);
    const got = will!.packet.properties!;
    assert.equal(got.contentType, properties.contentType);
    assert.equal(got.responseTopic, properties.responseTopic);
    assert.deepEqual(got.correlationData, properties.correlationData);
    assert.equal(got.payloadFormatIndicator, true);
    assert.deepEqual(Object.entries(got.userProperties ?? {}), Object.entries(properties.userProperties));
    await end(client, watcher);
  });
});
