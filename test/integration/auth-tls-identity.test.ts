// ROOST_TLS_IDENTITY: the verified client certificate's CN or SAN is the user name, from the
// TLS listener's socket or from a PROXY v2 header's SSL TLV; no verified certificate, no entry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { createBroker, defaultLimits, type Broker, type TlsSettings } from '@roost/broker';
import { AclFileSource, CertificateIdentityProvider, type CertificateIdentity } from '@roost/auth';
import { ReasonCode } from '@roost/protocol';
import { TestCa, type IssuedCert } from '../../scripts/lib/certs.ts';
import { RecordingLogger } from '../helpers/listeners.ts';
import { connectWithInbox, end } from '../helpers/clients.ts';
import { pubackCode, refusal } from '../helpers/auth.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { PP2, proxyV2, sslTlv, tlv } from '../helpers/proxy-header.ts';

const log = new RecordingLogger();
let ca: TestCa;
let otherCa: TestCa;
let device: IssuedCert;
let dir: string;
let rules: AclFileSource;
const brokers: Broker[] = [];

/** A broker whose TLS listener requests certificates and whose plain listener takes PROXY headers. */
async function start(identity: CertificateIdentity): Promise<{ tls: number; proxied: number }> {
  const server = ca.server();
  const tls: TlsSettings = { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.caFile, clientCert: 'request', minVersion: 'TLSv1.2' };
  const broker = createBroker({
    nodeId: 'tls-identity-test',
    version: '0.0.0-test',
    logger: log,
    limits: defaultLimits,
    sysInterval: 0,
    auth: { providers: [new CertificateIdentityProvider(identity)], allowAnonymous: false, rules },
  });
  brokers.push(broker);
  const bound = await broker.listen([
    { name: 'tls', kind: 'tls', host: '127.0.0.1', port: 0, proxyProtocol: false, tls },
    { name: 'mqtt', kind: 'tcp', host: '127.0.0.1', port: 0, proxyProtocol: true },
  ]);
  return { tls: bound.find((b) => b.name === 'tls')!.port, proxied: bound.find((b) => b.name === 'mqtt')!.port };
}

let cn: { tls: number; proxied: number };
let san: { tls: number; proxied: number };

before(async () => {
  ca = new TestCa();
  otherCa = new TestCa('Other CA');
  device = ca.issue({ cn: 'device-7', usage: 'client', sans: ['DNS:device-7.roost.test', 'URI:spiffe://roost/device-7'] });
  dir = mkdtempSync(join(tmpdir(), 'roost-tls-identity-'));
  writeFileSync(join(dir, 'acl'), 'pattern readwrite devices/%u/#\n');
  rules = new AclFileSource(join(dir, 'acl'), log);
  cn = await start('cn');
  san = await start('san');
});

after(async () => {
  rules.close();
  await Promise.all(brokers.map((broker) => broker.stop()));
  ca.remove();
  otherCa.remove();
  rmSync(dir, { recursive: true, force: true });
});

function tlsOptions(cert?: IssuedCert): IClientOptions {
  return { ca: readFileSync(ca.caFile), ...(cert ? { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) } : {}), protocolVersion: 5, reconnectPeriod: 0 };
}

test('cn: the certificate CN is the user name for the ACL, whatever user name and password the CONNECT sends', async () => {
  const { client } = await connectWithInbox(`mqtts://127.0.0.1:${cn.tls}`, { ...tlsOptions(device), clientId: 'cert-client', username: 'someone-else', password: 'ignored' });
  assert.equal(await pubackCode(client, 'devices/device-7/state'), 0);
  assert.equal(await pubackCode(client, 'devices/someone-else/state'), ReasonCode.NotAuthorized);
  await end(client);
  assert.ok((brokers[0]!.stats.authOutcomes.get('tls-identity/accepted') ?? 0) >= 1);
});

test('san: the first subject alternative name is the user name', async () => {
  const { client } = await connectWithInbox(`mqtts://127.0.0.1:${san.tls}`, { ...tlsOptions(device), clientId: 'san-client' });
  assert.equal(await pubackCode(client, 'devices/device-7.roost.test/state'), 0);
  assert.equal(await pubackCode(client, 'devices/device-7/state'), ReasonCode.NotAuthorized);
  await end(client);
});

test('without a verified certificate: CONNACK 0x87 (v5) / 5 (v3.1.1), user name and password or not', async () => {
  const url = `mqtts://127.0.0.1:${cn.tls}`;
  assert.equal(await refusal(url, { ...tlsOptions(), clientId: 'no-cert' }), ReasonCode.NotAuthorized);
  assert.equal(await refusal(url, { ...tlsOptions(), clientId: 'no-cert', username: 'device-7', password: 'x' }), ReasonCode.NotAuthorized);
  assert.equal(await refusal(url, { ...tlsOptions(), clientId: 'no-cert', protocolVersion: 4 }), 5);
  assert.ok((brokers[0]!.stats.authOutcomes.get('tls-identity/not-authorized') ?? 0) >= 3);
});

test('through a PROXY v2 header: a verified certificate in the SSL TLV is the identity; an unverified one (verify != 0) or none is refused', async () => {
  const header = (verify: number, cert: boolean) =>
    proxyV2({
      source: { address: '198.51.100.7', port: 40000 },
      destination: { address: '10.0.0.1', port: 8883 },
      tlvs: [sslTlv(PP2.CLIENT_SSL | (cert ? PP2.CLIENT_CERT_CONN | PP2.CLIENT_CERT_SESS : 0), verify, [tlv(PP2.SSL_VERSION, 'TLSv1.3'), ...(cert ? [tlv(PP2.SSL_CN, 'sensor-12')] : [])])],
    });
  const connackFor = async (bytes: Buffer) => {
    const client = await RawClient.open(cn.proxied, 5);
    client.sendBytes(bytes);
    const connack = await client.connect({ clientId: `proxied-${Math.random().toString(36).slice(2)}` });
    return { client, connack };
  };
  const verified = await connackFor(header(0, true));
  assert.equal(verified.connack.reasonCode, ReasonCode.Success);
  for (const [topic, code] of [['devices/sensor-12/t', ReasonCode.Success], ['devices/other/t', ReasonCode.NotAuthorized]] as const) {
    const messageId = verified.client.packetId();
    verified.client.send({ cmd: 'publish', topic, qos: 1, messageId, payload: Buffer.from('x'), retain: false, dup: false });
    assert.equal((await verified.client.next('puback')).reasonCode ?? 0, code, topic);
  }
  verified.client.socket.destroy();
  for (const bytes of [header(1, true), header(0, false)]) {
    const { client, connack } = await connackFor(bytes);
    assert.equal(connack.reasonCode, ReasonCode.NotAuthorized);
    client.socket.destroy();
  }
});
