// MQTT 5 enhanced authentication by SCRAM against a real broker on a loopback port: users
// written by `npx roost passwd --scram-sha-256/-512`, MQTT.js's enhanced authentication
// (properties.authenticationMethod, handleAuth) for logins, raw clients for what MQTT.js will
// not do (stalling, malformed data, re-authentication with packets in between).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { IAuthPacket, IConnackPacket } from 'mqtt-packet';
import { createBroker, defaultLimits, type Broker } from '@roost/broker';
import { PasswordFileProvider, ScramProvider } from '@roost/auth';
import { ReasonCode } from '@roost/protocol';
import { RecordingLogger } from '../helpers/listeners.ts';
import { RawClient, serverClose } from '../helpers/raw-client.ts';
import { assertNoSecretLogged, refusal } from '../helpers/auth.ts';
import { ScramClient, scramConnect, scramRefusal, type Mechanism } from '../helpers/scram-client.ts';

const ROOST = new URL('../../node_modules/.bin/roost', import.meta.url).pathname;
const PASSWORDS = { sam: 'sam-Scram-256!', sue: 'sue-scram-512?', pat: 'pat-pbkdf2-7' };
/** The broker's CONNECT timeout here, in seconds: a stalled exchange is closed after it. */
const CONNECT_TIMEOUT = 1;

let dir: string;
let broker: Broker;
let port: number;
let url: string;
let passwords: PasswordFileProvider;
const log = new RecordingLogger();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roost-scram-'));
  const file = join(dir, 'passwd');
  execFileSync(process.execPath, [ROOST, 'passwd', '-c', '-b', '--scram-sha-256', file, 'sam', PASSWORDS.sam]);
  execFileSync(process.execPath, [ROOST, 'passwd', '-b', '--scram-sha-512', file, 'sue', PASSWORDS.sue]);
  execFileSync('mosquitto_passwd', ['-b', file, 'pat', PASSWORDS.pat]);
  passwords = new PasswordFileProvider(file, log);
  const scram = new ScramProvider({ lookups: [passwords.entryOf] });
  broker = createBroker({
    nodeId: 'scram-test',
    version: '0.0.0-test',
    logger: log,
    limits: { ...defaultLimits, connectTimeout: CONNECT_TIMEOUT },
    sysInterval: 0,
    auth: { providers: [passwords, scram], allowAnonymous: false },
  });
  ({ port } = await broker.listen({ port: 0, host: '127.0.0.1' }));
  url = `mqtt://127.0.0.1:${port}`;
});

after(async () => {
  passwords.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the CLI writes SCRAM entries without the password: iterations, salt, StoredKey, ServerKey', () => {
  const text = readFileSync(join(dir, 'passwd'), 'utf8');
  assert.match(text, /^sam:\$scram-sha-256\$4096\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}\$[A-Za-z0-9+/=]{44}$/m);
  assert.match(text, /^sue:\$scram-sha-512\$4096\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{88}\$[A-Za-z0-9+/=]{88}$/m);
  for (const password of Object.values(PASSWORDS)) assert.ok(!text.includes(password));
});

for (const [mechanism, user] of [['SCRAM-SHA-256', 'sam'], ['SCRAM-SHA-512', 'sue']] as const) {
  test(`[MQTT-4.12.0-5] ${mechanism}: MQTT.js logs in, CONNACK 0x00 repeats the method and its server-final proves the server; the session works`, async () => {
    const { client, serverVerified } = await scramConnect(url, new ScramClient(mechanism, user, PASSWORDS[user]), { clientId: `${user}-ok` });
    try {
      assert.equal(serverVerified, true, 'v=ServerSignature checks against the password');
      await client.subscribeAsync('scram/t', { qos: 1 });
      const received = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(payload.toString())));
      await client.publishAsync('scram/t', 'hello', { qos: 1 });
      assert.equal(await received, 'hello');
      const line = await log.next((l) => l.msg === 'client connected' && l.fields.clientId === `${user}-ok` && l.level === 'info');
      assert.equal(line.fields.username, user, 'the SCRAM user is the identity');
    } finally {
      await client.endAsync();
    }
  });
}

test('[MQTT-4.12.0-4] a wrong password, an unknown user, a user without an entry for the method: CONNACK 0x87 alike', async () => {
  assert.equal(await scramRefusal(url, new ScramClient('SCRAM-SHA-256', 'sam', 'not-the-password')), ReasonCode.NotAuthorized);
  assert.equal(await scramRefusal(url, new ScramClient('SCRAM-SHA-256', 'mallory', PASSWORDS.sam)), ReasonCode.NotAuthorized);
  assert.equal(await scramRefusal(url, new ScramClient('SCRAM-SHA-512', 'sam', PASSWORDS.sam)), ReasonCode.NotAuthorized);
  assert.equal(await scramRefusal(url, new ScramClient('SCRAM-SHA-256', 'pat', PASSWORDS.pat)), ReasonCode.NotAuthorized, 'a $7$ user has no SCRAM keys');
});

/** The server's challenge and final answer to a raw SCRAM login, for comparing what two logins show. */
async function rawLogin(mechanism: Mechanism, user: string, password: string): Promise<{ serverFirst: string; connack: IConnackPacket; ms: number }> {
  const scram = new ScramClient(mechanism, user, password);
  const client = await RawClient.open(port, 5);
  try {
    const started = Date.now();
    client.send(client.connectPacket({ clientId: `raw-${user}`, properties: { authenticationMethod: mechanism, authenticationData: scram.first() } }));
    const challenge = await client.next('auth');
    const serverFirst = challenge.properties!.authenticationData!;
    client.send({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: mechanism, authenticationData: scram.final(serverFirst) } });
    const connack = await client.next('connack');
    return { serverFirst: serverFirst.toString(), connack, ms: Date.now() - started };
  } finally {
    await client.end();
  }
}

test('no user enumeration: an unknown user gets a challenge of the same shape, the same salt each time, and the same refusal as a wrong password', async () => {
  const wrong = await rawLogin('SCRAM-SHA-256', 'sam', 'wrong');
  const unknown = await rawLogin('SCRAM-SHA-256', 'nobody-here', 'wrong');
  const again = await rawLogin('SCRAM-SHA-256', 'nobody-here', 'other');
  const shape = (first: string) => first.replace(/^r=[^,]+/, 'r=').replace(/s=[A-Za-z0-9+/]+=*/, (salt) => `s(${salt.length})`);
  assert.equal(shape(unknown.serverFirst), shape(wrong.serverFirst));
  assert.equal(unknown.serverFirst.split(',')[1], again.serverFirst.split(',')[1], 'asking twice shows the same salt');
  assert.deepEqual([unknown.connack.reasonCode, unknown.connack.properties?.reasonString], [wrong.connack.reasonCode, wrong.connack.properties?.reasonString]);
  // The log may tell them apart, for the operator.
  const refusals = log.lines.filter((l) => l.msg === 'client refused at CONNECT' && l.fields.method === 'SCRAM-SHA-256').map((l) => l.fields.reason);
  assert.ok(refusals.includes('wrong proof') && refusals.includes('no SCRAM-SHA-256 entry for this user'), JSON.stringify(refusals));
});

test('[MQTT-4.12.0-1] an authentication method nobody offers gets CONNACK 0x8C', async () => {
  assert.equal(await refusal(url, { protocolVersion: 5, properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from('n,,n=sam,r=x') } }), ReasonCode.BadAuthenticationMethod);
});

test('a SCRAM entry verifies a plain CONNECT password too (v5 and v3.1.1); a wrong one is 0x86 / 4', async () => {
  for (const protocolVersion of [5, 4] as const) {
    const { client, connack } = await RawClient.connect(port, protocolVersion, { clientId: `plain-${protocolVersion}`, username: 'sue', password: Buffer.from(PASSWORDS.sue) });
    assert.equal(connack.reasonCode ?? connack.returnCode, 0);
    await client.end();
    const bad = protocolVersion === 5 ? ReasonCode.BadUserNameOrPassword : 4;
    assert.equal(await refusal(url, { protocolVersion, username: 'sue', password: 'wrong' }), bad);
  }
});

test('a client that stalls after the challenge is refused at the CONNECT timeout with CONNACK 0x87 and closed', async () => {
  const client = await RawClient.open(port, 5);
  const started = Date.now();
  client.send(client.connectPacket({ properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: new ScramClient('SCRAM-SHA-256', 'sam', 'x').first() } }));
  await client.next('auth');
  const connack = await client.next('connack', CONNECT_TIMEOUT * 1000 + 2000);
  assert.equal(connack.reasonCode, ReasonCode.NotAuthorized);
  await client.waitClosed();
  const waited = Date.now() - started;
  assert.ok(waited >= CONNECT_TIMEOUT * 1000 && waited < CONNECT_TIMEOUT * 1000 + 1500, `closed after ${waited} ms`);
});

test('[MQTT-3.1.2-30] a PUBLISH in the middle of the exchange is refused with CONNACK 0x82', async () => {
  const client = await RawClient.open(port, 5);
  client.send(client.connectPacket({ properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: new ScramClient('SCRAM-SHA-256', 'sam', 'x').first() } }));
  await client.next('auth');
  client.send({ cmd: 'publish', topic: 'scram/early', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
  assert.equal((await client.next('connack')).reasonCode, ReasonCode.ProtocolError);
  await client.waitClosed();
});

test('malformed Authentication Data, fuzzed: every client gets a clear refusal (CONNACK 0x87 or 0x82) and the broker goes on serving', async () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
    fc.array(fc.constantFrom('n', 'y', 'p=x', ',', '=', '=2C', 'n=', 'r=', 'c=', 'p=', 'm=', 'sam', 'biws', 'AAAA'), { maxLength: 12 }).map((p) => Buffer.from(p.join(''))),
  );
  await fc.assert(
    fc.asyncProperty(bytes, bytes, async (first, final) => {
      const client = await RawClient.open(port, 5);
      try {
        client.send(client.connectPacket({ properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: first } }));
        let packet = await client.next();
        if (packet.cmd === 'auth') {
          client.send({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: final } });
          packet = await client.next();
        }
        assert.equal(packet.cmd, 'connack');
        const code = (packet as IConnackPacket).reasonCode;
        assert.ok(code === ReasonCode.NotAuthorized || code === ReasonCode.ProtocolError, JSON.stringify(packet));
        await client.waitClosed();
      } finally {
        await client.end();
      }
    }),
    { numRuns: 40, seed: 1105 },
  );
  const { client } = await scramConnect(url, new ScramClient('SCRAM-SHA-256', 'sam', PASSWORDS.sam));
  await client.endAsync();
  assert.deepEqual(log.lines.filter((l) => l.level === 'error'), [], 'no internal error');
});

/** A raw SCRAM login, the connection kept for what follows. */
async function rawConnected(mechanism: Mechanism, user: keyof typeof PASSWORDS): Promise<RawClient> {
  const scram = new ScramClient(mechanism, user, PASSWORDS[user]);
  const client = await RawClient.open(port, 5);
  client.send(client.connectPacket({ clientId: `reauth-${user}-${Date.now()}`, properties: { authenticationMethod: mechanism, authenticationData: scram.first() } }));
  const challenge = await client.next('auth');
  client.send({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: mechanism, authenticationData: scram.final(challenge.properties!.authenticationData!) } });
  assert.equal((await client.next('connack')).reasonCode, ReasonCode.Success);
  return client;
}

function authOf(mechanism: Mechanism, reasonCode: number, data: Buffer): IAuthPacket {
  return { cmd: 'auth', reasonCode, properties: { authenticationMethod: mechanism, authenticationData: data } };
}

test('[MQTT-4.12.1-1] re-authentication: AUTH 0x19, the exchange again, AUTH 0x00 with server-final; a PUBLISH in the middle is acknowledged meanwhile', async () => {
  const client = await rawConnected('SCRAM-SHA-512', 'sue');
  try {
    const again = new ScramClient('SCRAM-SHA-512', 'sue', PASSWORDS.sue);
    client.send(authOf('SCRAM-SHA-512', ReasonCode.ReAuthenticate, again.first()));
    const challenge = await client.next('auth');
    assert.equal(challenge.reasonCode, ReasonCode.ContinueAuthentication);
    client.send({ cmd: 'publish', topic: 'scram/during', payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false });
    assert.equal((await client.next('puback')).messageId, 7, 'packets flow during the re-authentication');
    client.send(authOf('SCRAM-SHA-512', ReasonCode.ContinueAuthentication, again.final(challenge.properties!.authenticationData!)));
    const done = await client.next('auth');
    assert.equal(done.reasonCode, ReasonCode.Success);
    assert.equal(done.properties?.authenticationMethod, 'SCRAM-SHA-512');
    assert.equal(again.verify(done.properties?.authenticationData), true);
    client.send({ cmd: 'pingreq' });
    await client.next('pingresp');
  } finally {
    await client.end();
  }
});

test('[MQTT-4.12.1-2] a re-authentication with a wrong password is DISCONNECT 0x87 and the close', async () => {
  const client = await rawConnected('SCRAM-SHA-256', 'sam');
  const wrong = new ScramClient('SCRAM-SHA-256', 'sam', 'guessed');
  client.send(authOf('SCRAM-SHA-256', ReasonCode.ReAuthenticate, wrong.first()));
  const challenge = await client.next('auth');
  client.send(authOf('SCRAM-SHA-256', ReasonCode.ContinueAuthentication, wrong.final(challenge.properties!.authenticationData!)));
  assert.equal((await serverClose(client))?.reasonCode, ReasonCode.NotAuthorized);
  await log.next((l) => l.msg === 'client refused at re-authentication');
});

test('[MQTT-4.12.1-1] a re-authentication naming another method is DISCONNECT 0x82', async () => {
  const client = await rawConnected('SCRAM-SHA-256', 'sam');
  client.send(authOf('SCRAM-SHA-512', ReasonCode.ReAuthenticate, new ScramClient('SCRAM-SHA-512', 'sam', PASSWORDS.sam).first()));
  assert.equal((await serverClose(client))?.reasonCode, ReasonCode.ProtocolError);
});

test('a re-authentication left unanswered is DISCONNECT 0x87 at the CONNECT timeout', async () => {
  const client = await rawConnected('SCRAM-SHA-256', 'sam');
  client.send(authOf('SCRAM-SHA-256', ReasonCode.ReAuthenticate, new ScramClient('SCRAM-SHA-256', 'sam', PASSWORDS.sam).first()));
  await client.next('auth');
  assert.equal((await serverClose(client, CONNECT_TIMEOUT * 1000 + 2000))?.reasonCode, ReasonCode.NotAuthorized);
});

test('no log line holds a password', () => {
  assert.ok(log.lines.length > 20, 'the tests above logged');
  assertNoSecretLogged(log.lines, [...Object.values(PASSWORDS), 'not-the-password', 'guessed']);
});
