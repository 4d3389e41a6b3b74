// A listener with proxyProtocol: true (ROOST_PROXY_PROTOCOL) on a real broker: the header's
// client address becomes the connection's, the bytes after it are MQTT, and a connection
// without a valid header in time is closed alone, counted by reason and logged at info.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import { generate } from 'mqtt-packet';
import { createBroker, defaultLimits, type Broker } from '@roost/broker';
import { TestCa } from '../../scripts/lib/certs.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { RecordingLogger } from '../helpers/listeners.ts';
import { PP2, proxyV1, proxyV2, sslTlv, tlv } from '../helpers/proxy-header.ts';
import { closedWithin, destroySocket, openSocket, repliedWithin, splitBytes, writePieces } from '../helpers/raw-socket.ts';

const log = new RecordingLogger();
const entries = log.lines;
let broker: Broker;
let port: number;
/** A second listener without PROXY: the healthy client of the fuzz connects here too. */
let plainPort: number;
/** A TLS listener behind a proxy that passes TLS through: the header first, then the handshake. */
let tlsPort: number;
const ca = new TestCa();
const server = ca.server();

before(async () => {
  broker = createBroker({ nodeId: 'proxy-test', version: '0.0.0-test', logger: log, limits: { ...defaultLimits, connectTimeout: 1 }, sysInterval: 0 });
  const bound = await broker.listen([
    { name: 'mqtt', kind: 'tcp', host: '127.0.0.1', port: 0, proxyProtocol: true },
    { name: 'plain', kind: 'tcp', host: '127.0.0.1', port: 0, proxyProtocol: false },
    {
      name: 'tls',
      kind: 'tls',
      host: '127.0.0.1',
      port: 0,
      proxyProtocol: true,
      tls: { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.caFile, clientCert: 'request', minVersion: 'TLSv1.2' },
    },
  ]);
  [port, plainPort, tlsPort] = [bound[0]!.port, bound[1]!.port, bound[2]!.port];
});
after(async () => {
  await broker.stop();
  ca.remove();
});

const connectBytes = (clientId: string) => generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 30 });
const failures = (reason: string) => broker.stats.proxyHeaderFailures.get(reason) ?? 0;

/** Sends `pieces`, then waits for the CONNACK (its first bytes) or the close. */
async function exchange(pieces: Buffer[]): Promise<{ connack: boolean; socket: Awaited<ReturnType<typeof openSocket>>; localPort: number }> {
  const socket = await openSocket(port);
  const localPort = socket.localPort!;
  const reply = new Promise<Buffer | undefined>((resolve) => {
    socket.once('data', resolve);
    socket.once('close', () => resolve(undefined));
  });
  await writePieces(socket, pieces);
  const first = await reply;
  return { connack: first !== undefined && first[0] === 0x20 && first[3] === 0x00, socket, localPort };
}

function connectedLine(clientId: string): Record<string, unknown> | undefined {
  return entries.find((e) => e.level === 'info' && e.msg === 'client connected' && e.fields.clientId === clientId)?.fields;
}

test('a v1 header: CONNACK, and the client is logged at the address the header gives', async () => {
  const clientId = unique('v1');
  const header = proxyV1({ address: '203.0.113.9', port: 40001 }, { address: '10.0.0.1', port: 1883 });
  const { connack, socket } = await exchange([Buffer.concat([header, connectBytes(clientId)])]);
  assert.ok(connack);
  const line = connectedLine(clientId);
  assert.equal(line?.remote, '203.0.113.9:40001');
  assert.equal(line?.listener, 'mqtt');
  await destroySocket(socket);
});

test('a v2 header with a verified certificate\'s CN, split across segments down to single bytes', async () => {
  const clientId = unique('v2');
  const header = proxyV2({
    source: { address: '2001:db8::7', port: 50002 },
    destination: { address: '2001:db8::1', port: 8883 },
    tlvs: [sslTlv(PP2.CLIENT_SSL | PP2.CLIENT_CERT_CONN | PP2.CLIENT_CERT_SESS, 0, [tlv(PP2.SSL_VERSION, 'TLSv1.3'), tlv(PP2.SSL_CN, 'sensor-12')])],
  });
  const { connack, socket } = await exchange(splitBytes(Buffer.concat([header, connectBytes(clientId)]), [1, 3, 7, 1, 20]));
  assert.ok(connack);
  const line = connectedLine(clientId);
  assert.equal(line?.remote, '[2001:db8::7]:50002', 'an IPv6 address in brackets, its port after them');
  assert.equal(line?.certCN, 'sensor-12');
  await destroySocket(socket);
});

test('LOCAL (a health check) keeps the socket\'s own address', async () => {
  const clientId = unique('local');
  const { connack, socket, localPort } = await exchange([Buffer.concat([proxyV2({ command: 'local' }), connectBytes(clientId)])]);
  assert.ok(connack);
  assert.equal(connectedLine(clientId)?.remote, `127.0.0.1:${localPort}`);
  await destroySocket(socket);
});

test('a close without CONNECT (check-send-proxy\'s LOCAL header then FIN, a port scan\'s bare connect) is logged at debug; a client\'s close at info', async () => {
  for (const [target, bytes] of [[port, proxyV2({ command: 'local' })], [plainPort, Buffer.alloc(0)]] as const) {
    const socket = await openSocket(target);
    const remote = `127.0.0.1:${socket.localPort}`;
    const closed = once(socket, 'close');
    socket.end(bytes);
    await closed;
    const line = await log.next((e) => e.msg === 'connection closed' && e.fields.remote === remote);
    assert.equal(line.level, 'debug', `${line.fields.listener}: ${JSON.stringify(line)}`);
    assert.equal(line.fields.closedBy, 'client');
  }

  const clientId = unique('closes');
  const client = await exchange([Buffer.concat([proxyV2({ command: 'local' }), connectBytes(clientId)])]);
  assert.ok(client.connack);
  await destroySocket(client.socket);
  const clientLine = await log.next((e) => e.msg === 'connection closed' && e.fields.clientId === clientId);
  assert.equal(clientLine.level, 'info');
});

test('a TLS listener with PROXY: the header, then the handshake on the same socket; the address from the header, the certificate from the handshake', async () => {
  const clientId = unique('tls');
  const device = ca.issue({ cn: 'device-tls', usage: 'client' });
  const raw = await openSocket(tlsPort);
  await writePieces(raw, [proxyV2({ source: { address: '192.0.2.44', port: 44444 }, destination: { address: '10.0.0.1', port: 8883 } })]);
  const secure = tlsConnect({ socket: raw, ca: readFileSync(ca.caFile), cert: readFileSync(device.certFile), key: readFileSync(device.keyFile), servername: 'localhost' });
  await once(secure, 'secureConnect');
  const reply = once(secure, 'data');
  secure.write(connectBytes(clientId));
  const [connack] = (await reply) as [Buffer];
  assert.equal(connack[0], 0x20);
  const line = connectedLine(clientId);
  assert.equal(line?.remote, '192.0.2.44:44444');
  assert.equal(line?.listener, 'tls');
  assert.equal(line?.certCN, 'device-tls');
  assert.equal(line?.certFingerprint, device.fingerprint256);
  secure.destroy();
});

test('no header: closed without an answer, the CONNECT never read as MQTT; counted and logged at info', async () => {
  const clientId = unique('bare');
  const before = failures('not-proxy');
  const { connack, socket, localPort } = await exchange([connectBytes(clientId)]);
  assert.equal(connack, false);
  assert.ok(socket.destroyed || (await closedWithin(socket, 2000)));
  assert.equal(failures('not-proxy'), before + 1);
  assert.equal(connectedLine(clientId), undefined);
  const refused = entries.findLast((e) => e.msg === 'PROXY header refused');
  assert.equal(refused?.level, 'info');
  assert.equal(refused?.fields.reason, 'not-proxy');
  assert.equal(refused?.fields.remote, `127.0.0.1:${localPort}`);
});

test('malformed and truncated headers are closed and counted by reason', async () => {
  const malformed = failures('malformed');
  const { connack } = await exchange([Buffer.from('PROXY TCP4 1.2.3.400 10.0.0.1 1 2\r\n')]);
  assert.equal(connack, false);
  assert.equal(failures('malformed'), malformed + 1);

  const truncated = failures('truncated');
  const socket = await openSocket(port);
  const closed = once(socket, 'close');
  socket.end(proxyV1({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 }).subarray(0, 20));
  await closed;
  assert.equal(failures('truncated'), truncated + 1);
});

test('a header slower than the CONNECT timeout (1 s here) is closed and counted', async () => {
  const timeouts = failures('timeout');
  const socket = await openSocket(port);
  socket.write(Buffer.from('PROXY TCP4 '));
  assert.ok(await closedWithin(socket, 3000), 'closed by the CONNECT deadline');
  assert.equal(failures('timeout'), timeouts + 1);
});

test('fuzz: noise and broken headers on the PROXY listener; the node stays up and serves a healthy client', async () => {
  const header = proxyV2({ source: { address: '198.51.100.3', port: 1234 }, destination: { address: '10.0.0.1', port: 1883 }, tlvs: [sslTlv(PP2.CLIENT_SSL, 0, [tlv(PP2.SSL_CN, 'x')])] });
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
    fc.tuple(fc.nat(header.length - 1), fc.nat(255), fc.uint8Array({ maxLength: 60 })).map(([at, byte, tail]) => {
      const broken = Buffer.from(header);
      broken[at] = byte;
      return Buffer.concat([broken, Buffer.from(tail)]);
    }),
    fc.tuple(fc.nat(header.length), fc.uint8Array({ maxLength: 60 })).map(([at, tail]) => Buffer.concat([header.subarray(0, at), Buffer.from(tail)])),
  );
  await fc.assert(
    fc.asyncProperty(input, fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 8 }), async (bytes, sizes) => {
      const socket = await openSocket(port);
      await writePieces(socket, splitBytes(bytes, sizes));
      await repliedWithin(socket, 20);
      await destroySocket(socket);
    }),
    { numRuns: 150 },
  );
  const healthy = await exchange([Buffer.concat([proxyV1({ address: '192.0.2.1', port: 1 }, { address: '10.0.0.1', port: 2 }), connectBytes(unique('healthy'))])]);
  assert.ok(healthy.connack, 'a client with a valid header is still served');
  await destroySocket(healthy.socket);
  // And an MQTT.js client on the plain listener of the same node gets its messages.
  const sub = await connect(`mqtt://127.0.0.1:${plainPort}`);
  const inbox = new Inbox(sub);
  await sub.subscribeAsync('proxy/fuzz', { qos: 1 });
  await sub.publishAsync('proxy/fuzz', 'alive', { qos: 1 });
  assert.equal((await inbox.waitFor(1))[0]!.payload.toString(), 'alive');
  await end(sub);
});
