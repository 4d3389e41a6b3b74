// Keep alive: 1.5x the negotiated interval, PINGREQ/PINGRESP, Server Keep Alive.
// The broker sweeps every 500 ms, so a 1 s keep alive closes between 1.5 s and 2 s of silence.
// The tests wait on real time, so they run concurrently to keep the file short.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { ReasonCode } from '@roost/protocol';
import { startBroker, type TestBroker } from '../helpers/broker.ts';
import { RawClient, assertServerClosed, isAccepted } from '../helpers/raw-client.ts';

let server: TestBroker;
let overriding: TestBroker;
let disabling: TestBroker;
before(async () => {
  server = await startBroker();
  overriding = await startBroker({ serverKeepAlive: 1 });
  disabling = await startBroker({ serverKeepAlive: 0 });
});
after(async () => {
  await Promise.all([server.stop(), overriding.stop(), disabling.stop()]);
});

/** Connects silently and resolves with the ms between CONNECT and the server's close. */
async function silentUntilClosed(client: RawClient, reasonCode: number): Promise<number> {
  const sent = Date.now();
  await assertServerClosed(client, reasonCode, 4000);
  return Date.now() - sent;
}

describe('keep alive', { concurrency: true }, () => {
  for (const version of [4, 5] as const) {
    test(`[MQTT-3.1.2-22] v${version}: a client silent for 1.5x its keep alive is disconnected`, async () => {
      // 2 s: with a 500 ms sweep, 1.5x closes in (3.0 s, 3.5 s] and 1x would close by 2.5 s.
      const client = await RawClient.open(server.port, version);
      const sent = Date.now();
      const connack = await client.connect({ keepalive: 2 });
      assert.ok(isAccepted(connack));
      if (version === 5) assert.equal(connack.properties?.serverKeepAlive, undefined); // [MQTT-3.2.2-22] the client's value holds
      await assertServerClosed(client, ReasonCode.KeepAliveTimeout, 5000);
      const elapsed = Date.now() - sent;
      assert.ok(elapsed >= 2950 && elapsed < 4500, `closed after ${elapsed} ms`);
    });

    test(`[MQTT-3.12.4-1] v${version}: PINGREQ is answered with PINGRESP`, async () => {
      const { client } = await RawClient.connect(server.port, version, { keepalive: 30 });
      client.send({ cmd: 'pingreq' });
      await client.next('pingresp');
      client.send({ cmd: 'pingreq' });
      await client.next('pingresp');
      await client.end();
    });

    test(`[MQTT-3.1.2-22] v${version}: a client that pings within its keep alive stays connected`, async () => {
      const { client } = await RawClient.connect(server.port, version, { keepalive: 1 });
      // 3 x 700 ms spans more than 1.5x the keep alive; each PINGREQ resets the timer.
      for (let i = 0; i < 3; i++) {
        await delay(700); // the elapsed time is the behaviour under test
        client.send({ cmd: 'pingreq' });
        await client.next('pingresp');
      }
      assert.equal(client.closed, false);
      await client.end();
    });
  }

  test('[MQTT-3.2.2-21] v5: a configured Server Keep Alive is sent in CONNACK and enforced', async () => {
    const client = await RawClient.open(overriding.port, 5);
    const connack = await client.connect({ keepalive: 60 });
    assert.equal(connack.properties?.serverKeepAlive, 1);
    const elapsed = await silentUntilClosed(client, ReasonCode.KeepAliveTimeout);
    assert.ok(elapsed < 3000, `closed after ${elapsed} ms`);
  });

  test('[MQTT-3.1.2-24] (v3.1.1) a v3.1.1 client is held to its own keep alive whatever Server Keep Alive says', async () => {
    // v3.1.1 has no way to tell the client another value, so the client's must apply.
    const client = await RawClient.open(disabling.port, 4);
    const sent = Date.now();
    await client.connect({ keepalive: 1 });
    await client.waitClosed(4000);
    assert.ok(Date.now() - sent >= 1450, `closed after ${Date.now() - sent} ms`);
  });
});
