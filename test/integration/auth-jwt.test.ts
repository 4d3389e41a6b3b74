// JWT as the CONNECT password: tokens signed in the test with jose (HS256 from a secret file,
// RS256 from a PEM public key, RS256 and ES256 from a JWKS file), against brokers on loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSecretKey, type webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { createBroker, defaultLimits, type AuthProvider, type Broker } from '@roost/broker';
import { JwtProvider, type JwtOptions } from '@roost/auth/jwt';
import { ReasonCode } from '@roost/protocol';
import { RecordingLogger } from '../helpers/listeners.ts';
import { connectWithInbox, end } from '../helpers/clients.ts';
import { assertNoSecretLogged, granted, pubackCode, refusal } from '../helpers/auth.ts';

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const log = new RecordingLogger();
const tokensUsed: string[] = [];
let dir: string;
const brokers: Broker[] = [];
const providers: JwtProvider[] = [];
type KeyPair = { publicKey: webcrypto.CryptoKey; privateKey: webcrypto.CryptoKey };
let rsa: KeyPair;
let ec: KeyPair;
/** Broker URLs: HS256 secret file; RS256 PEM key file with a client id claim; a JWKS file. */
const url = { hs: '', rsPem: '', jwks: '' };

async function start(options: Partial<JwtOptions>): Promise<string> {
  const provider = new JwtProvider({ usernameClaim: 'sub', aclClaim: 'acl', leewaySeconds: 30, ...options }, log);
  providers.push(provider);
  const broker = createBroker({
    nodeId: 'jwt-test',
    version: '0.0.0-test',
    logger: log,
    limits: defaultLimits,
    sysInterval: 0,
    auth: { providers: [provider as AuthProvider], allowAnonymous: false },
  });
  brokers.push(broker);
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' });
  return `mqtt://127.0.0.1:${port}`;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roost-jwt-'));
  rsa = await generateKeyPair('RS256');
  ec = await generateKeyPair('ES256');
  writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
  writeFileSync(join(dir, 'rsa.pem'), await exportSPKI(rsa.publicKey));
  const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256' }] };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks));
  url.hs = await start({ keyFile: join(dir, 'secret') });
  url.rsPem = await start({ keyFile: join(dir, 'rsa.pem'), clientIdClaim: 'cid' });
  url.jwks = await start({ jwksFile: join(dir, 'jwks.json') });
});

after(async () => {
  for (const provider of providers) provider.close();
  await Promise.all(brokers.map((broker) => broker.stop()));
  rmSync(dir, { recursive: true, force: true });
});

type Signer = { alg: 'HS256' | 'RS256' | 'ES256'; key: webcrypto.CryptoKey | ReturnType<typeof createSecretKey>; kid?: string };
const hs: Signer = { alg: 'HS256', key: createSecretKey(Buffer.from(SECRET)) };

/** A token for `sub`, valid for a minute unless `claims` says otherwise. */
async function token(sub: string, claims: JWTPayload = {}, signer: Signer = hs): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({ sub, exp: now + 60, ...claims }).setProtectedHeader({ alg: signer.alg, ...(signer.kid ? { kid: signer.kid } : {}) }).sign(signer.key);
  tokensUsed.push(jwt);
  return jwt;
}

let counter = 0;
function connect(brokerUrl: string, username: string, password: string, clientId = `jwt-${++counter}`) {
  return connectWithInbox(brokerUrl, { protocolVersion: 5, clientId, username, password });
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

test('a good HS256 token gets in; the token and its claims are the identity, the password file is not needed', async () => {
  const { client } = await connect(url.hs, 'device-1', await token('device-1'));
  await end(client);
  assert.ok((brokers[0]!.stats.authOutcomes.get('jwt/accepted') ?? 0) >= 1);
});

test('wrong signature, expired, not yet valid, no exp, alg none, malformed, another user: CONNACK 0x86 (v5) / 4 (v3.1.1)', async () => {
  const now = Math.floor(Date.now() / 1000);
  const other = { alg: 'HS256', key: createSecretKey(Buffer.from('another-secret-that-is-32-bytes-long')) } as const;
  const good = await token('device-2');
  const [header, payload] = good.split('.');
  const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.`;
  const cases: Array<[string, string]> = [
    ['wrong signature', await token('device-2', {}, other)],
    ['expired beyond the leeway', await token('device-2', { exp: now - 120 })],
    ['not yet valid beyond the leeway', await token('device-2', { nbf: now + 120 })],
    ['no exp', await new SignJWT({ sub: 'device-2' }).setProtectedHeader({ alg: 'HS256' }).sign(hs.key)],
    ['alg none', unsigned],
    ['alg none with a signature', `${base64url({ alg: 'none' })}.${payload}.${good.split('.')[2]}`],
    ['signature of another payload', `${header}.${base64url({ sub: 'device-2', exp: now + 60, acl: { readwrite: ['#'] } })}.${good.split('.')[2]}`],
    ['malformed', 'abc.def.ghi'],
    ['another user', await token('device-3')],
    ['RS256 where the key is an HS256 secret', await token('device-2', {}, { alg: 'RS256', key: rsa.privateKey })],
  ];
  tokensUsed.push(unsigned);
  for (const [what, jwt] of cases) {
    assert.equal(await refusal(url.hs, { protocolVersion: 5, clientId: `bad-${++counter}`, username: 'device-2', password: jwt }), ReasonCode.BadUserNameOrPassword, what);
  }
  assert.equal(await refusal(url.hs, { protocolVersion: 4, clientId: `bad-${++counter}`, username: 'device-2', password: cases[1]![1] }), 4);
  // Within the leeway, a token just expired or just valid still gets in: clocks differ a little.
  const { client: late } = await connect(url.hs, 'device-2', await token('device-2', { exp: now - 5 }));
  const { client: early } = await connect(url.hs, 'device-2', await token('device-2', { nbf: now + 5 }));
  await end(late, early);
});

test("a token's acl claim is the client's ACL: what it grants is allowed, the rest refused (SUBACK and PUBACK 0x87), deny wins", async () => {
  const acl = { read: ['commands/dev-4/#'], write: ['telemetry/dev-4/#'], readwrite: ['shared/+'], deny: ['shared/secret'] };
  const { client, inbox } = await connect(url.hs, 'dev-4', await token('dev-4', { acl }));
  assert.deepEqual(await granted(client, ['commands/dev-4/#', 'shared/+', 'commands/#', 'telemetry/dev-4/x', '$SYS/#']), [1, 1, 0x87, 0x87, 1]);
  assert.equal(await pubackCode(client, 'telemetry/dev-4/t'), 0);
  assert.equal(await pubackCode(client, 'telemetry/dev-5/t'), ReasonCode.NotAuthorized);
  assert.equal(await pubackCode(client, 'shared/secret'), ReasonCode.NotAuthorized);
  assert.equal(await pubackCode(client, 'shared/open'), 0);
  await inbox.until((m) => m.topic === 'shared/open');
  // Without the claim, no ACL source is configured here: every topic.
  const { client: open } = await connect(url.hs, 'dev-5', await token('dev-5'));
  assert.equal(await pubackCode(open, 'anything/at/all'), 0);
  // A claim that is not such an object refuses the client as not authorized.
  for (const bad of [['#'], { publish: ['#'] }, { read: 'a/#' }, { read: ['a/#/b'] }]) {
    assert.equal(await refusal(url.hs, { protocolVersion: 5, clientId: `acl-${++counter}`, username: 'dev-6', password: await token('dev-6', { acl: bad }) }), ReasonCode.NotAuthorized);
  }
  await end(client, open);
});

test('RS256 from a PEM key file, with the client id claim bound; an HS256 token made with the public key as its secret is refused', async () => {
  const rs = { alg: 'RS256', key: rsa.privateKey } as const;
  const { client } = await connect(url.rsPem, 'dev-7', await token('dev-7', { cid: 'dev-7-client' }, rs), 'dev-7-client');
  await end(client);
  assert.equal(await refusal(url.rsPem, { protocolVersion: 5, clientId: 'someone-else', username: 'dev-7', password: await token('dev-7', { cid: 'dev-7-client' }, rs) }), ReasonCode.BadUserNameOrPassword);
  assert.equal(await refusal(url.rsPem, { protocolVersion: 5, clientId: 'dev-7-client', username: 'dev-7', password: await token('dev-7', {}, rs) }), ReasonCode.BadUserNameOrPassword);
  const confused = { alg: 'HS256', key: createSecretKey(Buffer.from(await exportSPKI(rsa.publicKey))) } as const;
  assert.equal(await refusal(url.rsPem, { protocolVersion: 5, clientId: 'dev-7-client', username: 'dev-7', password: await token('dev-7', { cid: 'dev-7-client' }, confused) }), ReasonCode.BadUserNameOrPassword);
});

test('a JWKS file: RS256 and ES256 tokens pick their key by kid; an unknown kid or a key from outside the set is refused', async () => {
  const { client: a } = await connect(url.jwks, 'dev-8', await token('dev-8', {}, { alg: 'RS256', key: rsa.privateKey, kid: 'rsa-1' }));
  const { client: b } = await connect(url.jwks, 'dev-8', await token('dev-8', {}, { alg: 'ES256', key: ec.privateKey, kid: 'ec-1' }));
  await end(a, b);
  const stranger = await generateKeyPair('ES256');
  for (const signer of [{ alg: 'ES256', key: ec.privateKey, kid: 'nope' }, { alg: 'ES256', key: stranger.privateKey, kid: 'ec-1' }, hs] as Signer[]) {
    assert.equal(await refusal(url.jwks, { protocolVersion: 5, clientId: `jwks-${++counter}`, username: 'dev-8', password: await token('dev-8', {}, signer) }), ReasonCode.BadUserNameOrPassword);
  }
});

test('a password that is no token is not the JWT provider\'s: with no other provider the client is refused as unknown', async () => {
  assert.equal(await refusal(url.hs, { protocolVersion: 5, clientId: `plain-${++counter}`, username: 'dev-9', password: 'just a password' }), ReasonCode.BadUserNameOrPassword);
  assert.ok((brokers[0]!.stats.authOutcomes.get('none/bad-credentials') ?? 0) >= 1);
  assert.equal(await refusal(url.hs, { protocolVersion: 5, clientId: `anon-${++counter}` }), ReasonCode.NotAuthorized);
});

test('no log line holds a token or a part of one', () => {
  assert.ok(log.lines.some((line) => line.msg === 'client refused at CONNECT' && line.fields.provider === 'jwt'));
  assertNoSecretLogged(log.lines, [...tokensUsed, SECRET]);
});
