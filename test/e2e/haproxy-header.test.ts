// HAProxy's own PROXY headers (Debian's haproxy 2.6), read by Roost's reader from a raw backend:
// the header carries the client's real address and port, and the client's bytes follow untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ProxyHeaderReader, type ProxyHeaderResult } from '../../packages/broker/src/listeners/proxy-protocol.ts';
import { startHaproxy } from '../helpers/haproxy.ts';
import { TestCa, type IssuedCert } from '../../scripts/lib/certs.ts';

interface Received {
  result: ProxyHeaderResult;
  after: Buffer;
}

/** A backend that reads one connection's header, then the bytes after it up to `expect` bytes. */
async function rawBackend(expect: number): Promise<{ port: number; received: Promise<Received>; close(): void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const received = new Promise<Received>((resolve) => {
    server.once('connection', (socket: Socket) => {
      const reader = new ProxyHeaderReader();
      let result: ProxyHeaderResult = { status: 'more' };
      let after: Buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        if (result.status === 'more') {
          result = reader.feed(chunk);
          if (result.status === 'done') after = result.rest;
        } else after = Buffer.concat([after, chunk]);
        if (result.status === 'error' || after.length >= expect) resolve({ result, after });
      });
    });
  });
  return { port: (server.address() as AddressInfo).port, received, close: () => server.close() };
}

for (const sendProxy of ['v1', 'v2'] as const) {
  test(`HAProxy send-proxy ${sendProxy}: the client's address and port, then its bytes`, async (t) => {
    const backend = await rawBackend(5);
    t.after(() => backend.close());
    const haproxy = await startHaproxy({ backend: { port: backend.port }, sendProxy });
    t.after(() => haproxy.stop());
    const client = createConnection({ host: haproxy.host, port: haproxy.port });
    t.after(() => client.destroy());
    await once(client, 'connect');
    client.write('hello');
    const { result, after } = await backend.received;
    assert.equal(result.status, 'done', JSON.stringify(result));
    const { header } = result as Extract<ProxyHeaderResult, { status: 'done' }>;
    assert.equal(header.version, sendProxy === 'v1' ? 1 : 2);
    assert.equal(header.command, 'proxy');
    assert.deepEqual(header.source, { address: '127.0.0.1', port: client.localPort });
    assert.deepEqual(header.destination, { address: '127.0.0.1', port: haproxy.port });
    assert.equal(after.toString(), 'hello');
  });
}

test('HAProxy terminating TLS with send-proxy-v2-ssl-cn: the verified client certificate\'s CN, or none without one', async (t) => {
  const ca = new TestCa();
  t.after(() => ca.remove());
  const server = ca.server();
  const device: IssuedCert = ca.issue({ cn: 'device-7', usage: 'client' });
  for (const cert of [device, undefined]) {
    const backend = await rawBackend(5);
    const haproxy = await startHaproxy({ backend: { port: backend.port }, sendProxy: 'v2-ssl-cn', tls: { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.caFile, verify: 'optional' } });
    try {
      const client = tlsConnect({
        host: haproxy.host,
        port: haproxy.port,
        ca: await readFile(ca.caFile),
        servername: 'localhost',
        ...(cert && { cert: await readFile(cert.certFile), key: await readFile(cert.keyFile) }),
      });
      await once(client, 'secureConnect');
      const [clientPort, protocol] = [client.localPort, client.getProtocol()];
      client.write('hello');
      const { result, after } = await backend.received;
      client.destroy();
      assert.equal(result.status, 'done', JSON.stringify(result));
      const { header } = result as Extract<ProxyHeaderResult, { status: 'done' }>;
      assert.deepEqual(header.source, { address: '127.0.0.1', port: clientPort });
      assert.equal(header.ssl?.tls, true);
      assert.equal(header.ssl?.version, protocol);
      assert.equal(header.ssl?.certificateVerified, cert !== undefined, JSON.stringify(header.ssl));
      assert.equal(header.ssl?.commonName, cert ? 'device-7' : undefined);
      assert.equal(after.toString(), 'hello');
    } finally {
      await haproxy.stop();
      backend.close();
    }
  }
});
