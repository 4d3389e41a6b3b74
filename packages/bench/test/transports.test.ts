// roost-bench over TLS (--tls --ca) and WebSocket (--ws, ws:// and wss://): the same counts as
// over TCP, against a Roost broker with TLS and WebSocket listeners in this process.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseBrokerUrl } from '../src/client.ts';
import { runScenario } from '../src/scenarios.ts';
import { TestCa } from '../../../scripts/lib/certs.ts';
import { RecordingLogger, startListening, type ListeningBroker } from '../../../test/helpers/listeners.ts';
import { benchOptions } from './helpers.ts';

describe('roost-bench over TLS and WebSocket', () => {
  const ca = new TestCa();
  const cert = ca.server();
  const tls = { certFile: cert.certFile, keyFile: cert.keyFile, clientCert: 'none' as const, minVersion: 'TLSv1.2' as const };
  let broker: ListeningBroker;
  before(async () => {
    broker = await startListening([{ name: 'tls', kind: 'tls', tls }, { name: 'ws', kind: 'ws' }, { name: 'wss', kind: 'wss', tls }], { logger: new RecordingLogger() });
  });
  after(async () => {
    await broker.stop();
    ca.remove();
  });

  it('reads the transport from the URL scheme or from --tls / --ws', () => {
    assert.deepEqual(parseBrokerUrl('mqtt://h:1'), { host: 'h', port: 1 });
    assert.deepEqual(parseBrokerUrl('mqtt://h:1', { tls: true, caFile: '/ca.pem' }), { host: 'h', port: 1, transport: 'tls', caFile: '/ca.pem' });
    assert.deepEqual(parseBrokerUrl('mqtts://h'), { host: 'h', port: 8883, transport: 'tls' });
    assert.deepEqual(parseBrokerUrl('mqtt://h:2', { ws: true }), { host: 'h', port: 2, transport: 'ws', path: '/mqtt' });
    assert.deepEqual(parseBrokerUrl('ws://h:3/x', { tls: true }), { host: 'h', port: 3, transport: 'wss', path: '/x' });
  });

  for (const [name, url, args] of [
    ['--tls --ca', () => `mqtt://127.0.0.1:${broker.ports.tls}`, ['--tls', '--ca', ca.caFile]],
    ['--ws', () => `mqtt://127.0.0.1:${broker.ports.ws}`, ['--ws']],
    ['wss:// --ca', () => `wss://127.0.0.1:${broker.ports.wss}/mqtt`, ['--ca', ca.caFile]],
  ] as const) {
    it(`fan-in over ${name}: every message delivered`, async () => {
      const result = await runScenario('fan-in', benchOptions(url(), ['--publishers', '4', '--count', '250', ...args]));
      assert.equal(result.messages, 1000);
      assert.equal(result.lost, 0);
      assert.equal(result.errors, 0);
    });
  }

  it('idle over --tls: every connection handshakes and gets its CONNACK', async () => {
    const result = await runScenario('idle', benchOptions(`mqtt://127.0.0.1:${broker.ports.tls}`, ['--count', '200', '--window', '50', '--tls', '--ca', ca.caFile]));
    assert.equal(result.connected, 200);
    assert.equal(result.errors, 0);
  });

  it('a certificate the CA did not sign fails the run instead of connecting', async () => {
    const other = new TestCa('Other CA');
    try {
      await assert.rejects(runScenario('fan-in', benchOptions(`mqtt://127.0.0.1:${broker.ports.tls}`, ['--publishers', '1', '--count', '1', '--tls', '--ca', other.caFile])));
    } finally {
      other.remove();
    }
  });
});
