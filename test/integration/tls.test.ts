// The TLS listener with real clients: mosquitto_pub/sub with --cafile and with a client
// certificate, MQTT.js over mqtts, refusals at the handshake (counted by reason), and a
// certificate rotated through a symlink swap as a Kubernetes secret is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { promisify } from 'node:util';
import type { TlsSettings } from '@roost/broker';
import { TestCa, type IssuedCert } from '../../scripts/lib/certs.ts';
import { connect, end, Inbox, unique } from '../helpers/clients.ts';
import { RecordingLogger, startListening, type ListeningBroker } from '../helpers/listeners.ts';

const run = promisify(execFile);
let ca: TestCa;
let otherCa: TestCa;
let server: IssuedCert;
let device: IssuedCert;
let stranger: IssuedCert;

before(() => {
  ca = new TestCa();
  otherCa = new TestCa('Other CA');
  server = ca.server();
  device = ca.issue({ cn: 'device-7', usage: 'client', sans: ['DNS:device-7.roost.test', 'URI:spiffe://roost/device-7'] });
  stranger = otherCa.issue({ cn: 'stranger', usage: 'client' });
});
after(() => {
  ca.remove();
  otherCa.remove();
});

async function tlsBroker(tls: Partial<TlsSettings> = {}, logger = new RecordingLogger()): Promise<ListeningBroker & { logger: RecordingLogger; port: number }> {
  const settings: TlsSettings = { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.caFile, clientCert: 'none', minVersion: 'TLSv1.2', ...tls };
  const node = await startListening([{ name: 'tls', kind: 'tls', tls: settings }], { logger });
  return { ...node, logger, port: node.ports.tls! };
}

function mosquitto(tool: 'mosquitto_pub' | 'mosquitto_sub', port: number, args: string[]) {
  return run(tool, ['-h', '127.0.0.1', '-p', String(port), '--cafile', ca.caFile, ...args], { timeout: 10_000 });
}

/** Handshakes and reports what the server showed, then hangs up. */
async function handshake(port: number, options: ConnectionOptions = {}): Promise<{ fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(ca.caFile), ...options }, () => {
      const fingerprint = socket.getPeerX509Certificate()!.fingerprint256;
      socket.end();
      resolve({ fingerprint });
    });
    socket.on('error', reject);
  });
}

test('mosquitto_pub and mosquitto_sub --cafile publish and receive a retained QoS 1 message over TLS', async () => {
  const node = await tlsBroker();
  try {
    const topic = unique('tls/mosquitto');
    await mosquitto('mosquitto_pub', node.port, ['-t', topic, '-m', 'over tls', '-q', '1', '-r']);
    const { stdout } = await mosquitto('mosquitto_sub', node.port, ['-t', topic, '-q', '1', '-C', '1']);
    assert.equal(stdout.trim(), 'over tls');
    const connected = await node.logger.next((l) => l.level === 'info' && l.msg === 'client connected');
    assert.equal(connected.fields.listener, 'tls');
    assert.match(String(connected.fields.remote), /^127\.0\.0\.1:\d+$/);
  } finally {
    await node.stop();
  }
});

test('mTLS under require: a client certificate from the CA is served and its identity logged; none, or one from another CA, is refused at the handshake and counted', async () => {
  const node = await tlsBroker({ clientCert: 'require' });
  try {
    const topic = unique('tls/mtls');
    await mosquitto('mosquitto_pub', node.port, ['--cert', device.certFile, '--key', device.keyFile, '-t', topic, '-m', 'signed', '-q', '1', '-r', '-i', 'device-7']);
    const connected = await node.logger.next((l) => l.level === 'info' && l.msg === 'client connected' && l.fields.clientId === 'device-7');
    assert.equal(connected.fields.certCN, 'device-7');
    assert.equal(connected.fields.certFingerprint, device.fingerprint256);

    await assert.rejects(mosquitto('mosquitto_pub', node.port, ['-t', topic, '-m', 'anonymous', '-i', 'no-cert']), 'no certificate: refused');
    await node.logger.next((l) => l.msg === 'TLS handshake failed' && l.fields.reason === 'no_client_certificate');
    await assert.rejects(mosquitto('mosquitto_pub', node.port, ['--cert', stranger.certFile, '--key', stranger.keyFile, '-t', topic, '-m', 'forged', '-i', 'stranger']));
    const refused = await node.logger.next((l) => l.msg === 'TLS handshake failed' && l.fields.reason === 'bad_client_certificate');
    assert.match(String(refused.fields.remote), /^127\.0\.0\.1:\d+$/);
    assert.equal(node.broker.stats.tlsHandshakeFailures.get('no_client_certificate'), 1);
    assert.equal(node.broker.stats.tlsHandshakeFailures.get('bad_client_certificate'), 1);

    // Only the signed message was stored.
    const { stdout } = await mosquitto('mosquitto_sub', node.port, ['--cert', device.certFile, '--key', device.keyFile, '-t', topic, '-C', '1']);
    assert.equal(stdout.trim(), 'signed');
  } finally {
    await node.stop();
  }
});

test('MQTT.js over mqtts: QoS 1 and a retained message, with the SANs of a client certificate in ConnectionInfo', async () => {
  const node = await tlsBroker({ clientCert: 'request' });
  try {
    const url = `mqtts://127.0.0.1:${node.port}`;
    const tls = { ca: readFileSync(ca.caFile) };
    const topic = unique('tls/mqttjs');
    const pub = await connect(url, { ...tls, protocolVersion: 5 });
    await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });
    const sub = await connect(url, { ...tls, cert: readFileSync(device.certFile), key: readFileSync(device.keyFile), clientId: 'sub-with-cert' });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    await pub.publishAsync(topic, 'live', { qos: 1 });
    const messages = await inbox.waitFor(2);
    assert.deepEqual(messages.map((m) => [m.payload.toString(), m.packet.retain, m.packet.qos]), [['kept', true, 1], ['live', false, 1]]);
    const info = (await node.logger.next((l) => l.level === 'info' && l.msg === 'client connected' && l.fields.clientId === 'sub-with-cert')).fields;
    assert.equal(info.certCN, 'device-7');
    const peer = node.broker.connectionInfo('sub-with-cert')?.tls?.peerCertificate;
    assert.deepEqual(peer, { subjectCN: 'device-7', subjectAltNames: ['DNS:device-7.roost.test', 'URI:spiffe://roost/device-7'], fingerprint256: device.fingerprint256 });
    assert.ok(Object.isFrozen(node.broker.connectionInfo('sub-with-cert')), 'ConnectionInfo is immutable');
    assert.match(String(node.broker.connectionInfo('sub-with-cert')?.tls?.protocol), /^TLSv1\.[23]$/);
    await end(pub, sub);
  } finally {
    await node.stop();
  }
});

test('garbage instead of a ClientHello, and a TLS version under the minimum, close that socket alone, counted by reason', async () => {
  const node = await tlsBroker({ minVersion: 'TLSv1.3' });
  try {
    await new Promise<void>((resolve) => {
      const socket = netConnect(node.port, '127.0.0.1', () => socket.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    await node.logger.next((l) => l.msg === 'TLS handshake failed' && l.fields.reason === 'not_tls');
    await assert.rejects(handshake(node.port, { maxVersion: 'TLSv1.2' }));
    await node.logger.next((l) => l.msg === 'TLS handshake failed' && l.fields.reason === 'protocol_version');
    // The node still serves.
    const client = await connect(`mqtts://127.0.0.1:${node.port}`, { ca: readFileSync(ca.caFile) });
    await end(client);
  } finally {
    await node.stop();
  }
});

test('rotation through a symlink swap: a new connection gets the new certificate, an open one keeps working; a bad file keeps the old context and names the file', async () => {
  // The layout of a mounted Kubernetes secret: files -> ..data/ -> a versioned directory.
  const mount = join(ca.dir, unique('secret'));
  const version = (name: string, cert: IssuedCert) => {
    const dir = join(mount, name);
    mkdirSync(dir, { recursive: true });
    copyFileSync(cert.certFile, join(dir, 'tls.crt'));
    copyFileSync(cert.keyFile, join(dir, 'tls.key'));
    return name;
  };
  const swapTo = (name: string) => {
    symlinkSync(name, join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data')); // atomic, as the kubelet does it
  };
  const first = server;
  const second = ca.server('roost-test-server-rotated');
  version('..v1', first);
  symlinkSync('..v1', join(mount, '..data'));
  symlinkSync('..data/tls.crt', join(mount, 'tls.crt'));
  symlinkSync('..data/tls.key', join(mount, 'tls.key'));
  const node = await tlsBroker({ certFile: join(mount, 'tls.crt'), keyFile: join(mount, 'tls.key') });
  try {
    assert.equal((await handshake(node.port)).fingerprint, first.fingerprint256);
    const url = `mqtts://127.0.0.1:${node.port}`;
    const tls = { ca: readFileSync(ca.caFile) };
    const old = await connect(url, tls);
    const inbox = new Inbox(old);
    const topic = unique('tls/rotation');
    await old.subscribeAsync(topic, { qos: 1 });

    const since = node.logger.lines.length;
    swapTo(version('..v2', second));
    await node.logger.next((l) => l.msg === 'certificate reloaded' && l.fields.fingerprint === second.fingerprint256, since);
    assert.equal((await handshake(node.port)).fingerprint, second.fingerprint256);

    const pub = await connect(url, tls);
    await pub.publishAsync(topic, 'after rotation', { qos: 1 });
    assert.equal((await inbox.waitFor(1))[0]!.payload.toString(), 'after rotation', 'the connection opened before the rotation still works');

    // A new version whose certificate does not parse: logged, named, and the old one stays.
    const broken = version('..v3', second);
    writeFileSync(join(mount, broken, 'tls.crt'), 'not a certificate\n');
    const failedSince = node.logger.lines.length;
    swapTo(broken);
    const failure = await node.logger.next((l) => l.level === 'error' && l.msg === 'certificate reload failed; keeping the previous certificate', failedSince);
    assert.match(String(failure.fields.err), /tls\.crt/);
    assert.equal((await handshake(node.port)).fingerprint, second.fingerprint256);
    await end(old, pub);
  } finally {
    await node.stop();
  }
});
