// The SCRAM mechanism without a broker: RFC 7677's own exchange for SCRAM-SHA-256, an exchange
// for SCRAM-SHA-512 computed independently by Python's hashlib and hmac, the message parsers
// fuzzed, and the entries in the password file's format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { ReasonCode } from '@roost/protocol';
import type { ConnectionInfo, Credentials, ProviderAnswer, ProviderExchange } from '@roost/broker';
import {
  formatScramEntry,
  parseClientFinal,
  parseClientFirst,
  parsePasswordHash,
  scramCredentials,
  ScramExchange,
  ScramMessageError,
  ScramProvider,
  verifyPassword,
  type PasswordHash,
  type ScramMechanism,
} from '@roost/auth';

const info: ConnectionInfo = { listener: 'mqtt', remoteAddress: '127.0.0.1', remotePort: 1, tls: undefined };

/** RFC 7677 section 3. */
const RFC7677 = {
  salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

test('RFC 7677 SCRAM-SHA-256 example: server-first, the proof accepted and server-final, byte for byte', async () => {
  const credentials = await scramCredentials('SCRAM-SHA-256', 'pencil', 4096, Buffer.from(RFC7677.salt, 'base64'));
  const exchange = new ScramExchange(parseClientFirst(Buffer.from(RFC7677.clientFirst)), credentials, true, RFC7677.serverNonce);
  assert.equal(exchange.serverFirst, RFC7677.serverFirst);
  assert.deepEqual(exchange.finish(Buffer.from(RFC7677.clientFinal)), { ok: true, serverFinal: RFC7677.serverFinal });
});

test('RFC 7677 example with one bit of the proof changed is refused as invalid-proof', async () => {
  const credentials = await scramCredentials('SCRAM-SHA-256', 'pencil', 4096, Buffer.from(RFC7677.salt, 'base64'));
  const exchange = new ScramExchange(parseClientFirst(Buffer.from(RFC7677.clientFirst)), credentials, true, RFC7677.serverNonce);
  const proof = Buffer.from(RFC7677.clientFinal.split(',p=')[1]!, 'base64');
  proof[0]! ^= 1;
  const final = `${RFC7677.clientFinal.split(',p=')[0]},p=${proof.toString('base64')}`;
  assert.deepEqual(exchange.finish(Buffer.from(final)), { ok: false, reason: 'invalid-proof' });
});

/** A SCRAM client in Python's standard library, so the -512 exchange is checked by code that is not ours. */
function pythonClient(hash: 'sha256' | 'sha512', password: string, clientFirstBare: string, serverFirst: string, withoutProof: string) {
  const script = `
import base64, hashlib, hmac, json, sys
h, password, bare, server_first, without_proof = sys.argv[1:6]
fields = dict(part.split('=', 1) for part in server_first.split(','))
salted = hashlib.pbkdf2_hmac(h, password.encode(), base64.b64decode(fields['s']), int(fields['i']))
client_key = hmac.new(salted, b'Client Key', h).digest()
stored_key = hashlib.new(h, client_key).digest()
auth_message = ','.join([bare, server_first, without_proof]).encode()
signature = hmac.new(stored_key, auth_message, h).digest()
proof = bytes(a ^ b for a, b in zip(client_key, signature))
server_key = hmac.new(salted, b'Server Key', h).digest()
print(json.dumps({'proof': base64.b64encode(proof).decode(), 'storedKey': base64.b64encode(stored_key).decode(),
  'serverKey': base64.b64encode(server_key).decode(),
  'serverFinal': 'v=' + base64.b64encode(hmac.new(server_key, auth_message, h).digest()).decode()}))
`;
  const out = execFileSync('python3', ['-c', script, hash, password, clientFirstBare, serverFirst, withoutProof], { encoding: 'utf8' });
  return JSON.parse(out) as { proof: string; storedKey: string; serverKey: string; serverFinal: string };
}

test('SCRAM-SHA-512: keys, accepted proof and server-final agree with Python hashlib/hmac', async () => {
  const salt = Buffer.from('c2FsdC1mb3ItcHl0aG9uLTUxMg==', 'base64');
  const credentials = await scramCredentials('SCRAM-SHA-512', 'pencil-512 ü', 10000, salt);
  const clientFirst = 'n,,n=us=2Cer,r=fyko+d2lbbFgONRv9qkxdawL';
  const exchange = new ScramExchange(parseClientFirst(Buffer.from(clientFirst)), credentials, true, 'server-nonce-3rfcNHYJY1ZVvWVs7j');
  const withoutProof = 'c=biws,r=fyko+d2lbbFgONRv9qkxdawLserver-nonce-3rfcNHYJY1ZVvWVs7j';
  const python = pythonClient('sha512', 'pencil-512 ü', clientFirst.slice(3), exchange.serverFirst, withoutProof);
  assert.equal(credentials.storedKey.toString('base64'), python.storedKey);
  assert.equal(credentials.serverKey.toString('base64'), python.serverKey);
  assert.equal(exchange.username, 'us,er');
  assert.deepEqual(exchange.finish(Buffer.from(`${withoutProof},p=${python.proof}`)), { ok: true, serverFinal: python.serverFinal });
});

test('an entry round-trips through the password file format and verifies a plain password (SASLprep applied)', async () => {
  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
    const entry = formatScramEntry(await scramCredentials(mechanism, 'pencil'));
    assert.match(entry, new RegExp(`^\\$${mechanism.toLowerCase()}\\$4096\\$`));
    const hash = parsePasswordHash(entry);
    assert.equal(hash?.kind, 'scram');
    assert.equal(await verifyPassword(hash!, Buffer.from('pencil')), true);
    // RFC 4013: a soft hyphen maps to nothing, so "pen\u00ADcil" is the same password.
    assert.equal(await verifyPassword(hash!, Buffer.from('pen\u00ADcil')), true);
    assert.equal(await verifyPassword(hash!, Buffer.from('pencil!')), false);
    assert.equal(await verifyPassword(hash!, Buffer.from([0xff, 0xfe])), false);
  }
});

test('damaged SCRAM entries are refused: key of the wrong length, bad iterations, other mechanism names', async () => {
  const good = formatScramEntry(await scramCredentials('SCRAM-SHA-256', 'x'));
  const parts = good.split('$');
  const damaged = [
    ['', 'scram-sha-512', ...parts.slice(2)].join('$'), // 32-byte keys under a 64-byte mechanism
    ['', 'scram-sha-256', '0', ...parts.slice(3)].join('$'),
    ['', 'scram-sha-256', '99999999999', ...parts.slice(3)].join('$'),
    ['', 'scram-sha-1', ...parts.slice(2)].join('$'),
    good.slice(0, -4),
    `${good}$extra`,
  ];
  for (const entry of damaged) assert.equal(parsePasswordHash(entry), undefined, entry);
});

test('client-first-message: saslname escapes decoded, gs2 "y" accepted, extensions ignored', () => {
  assert.deepEqual(parseClientFirst(Buffer.from('n,,n=a=3Db=2Cc,r=abc')), { gs2Header: 'n,,', bare: 'n=a=3Db=2Cc,r=abc', username: 'a=b,c', nonce: 'abc' });
  assert.equal(parseClientFirst(Buffer.from('y,,n=u,r=x,z=ext')).gs2Header, 'y,,');
});

test('malformed SCRAM messages are refused with a reason naming what is wrong', () => {
  const firsts: Array<[string, RegExp]> = [
    ['', /missing/],
    ['p=tls-unique,,n=u,r=x', /channel binding/],
    ['n,a=admin,n=u,r=x', /authorization identity/],
    ['x,,n=u,r=x', /gs2 header/],
    ['n,,m=ext,n=u,r=x', /mandatory extensions/],
    ['n,,r=x,n=u', /n=<user name>/],
    ['n,,n=,r=x', /empty/],
    ['n,,n=a=b,r=x', /=2C or =3D/],
    ['n,,n=u,r=', /nonce/],
    ['n,,n=u,r=a b', /nonce/],
    ['n,,n=u', /nonce/],
    ['n,,n=u,r=x,bad', /x=value/],
    [`n,,n=u,r=${'x'.repeat(5000)}`, /longer than/],
  ];
  for (const [message, reason] of firsts) assert.throws(() => parseClientFirst(Buffer.from(message)), (e: Error) => e instanceof ScramMessageError && reason.test(e.message), message);
  assert.throws(() => parseClientFirst(Buffer.from([0x6e, 0x2c, 0x2c, 0xff])), /not UTF-8/);
  const finals: Array<[string, RegExp]> = [
    ['c=biws,r=x', /no proof/],
    ['r=x,c=biws,p=AAAA', /c=<channel binding>/],
    ['c=b!ws,r=x,p=AAAA', /channel binding is not base64/],
    ['c=biws,p=AAAA', /nonce/],
    ['c=biws,r=x,p=AA', /proof is not base64/],
  ];
  for (const [message, reason] of finals) assert.throws(() => parseClientFinal(Buffer.from(message)), (e: Error) => e instanceof ScramMessageError && reason.test(e.message), message);
});

test('client-final with another nonce, another channel binding or a short proof is refused', async () => {
  const credentials = await scramCredentials('SCRAM-SHA-256', 'pencil', 4096, Buffer.from(RFC7677.salt, 'base64'));
  const start = () => new ScramExchange(parseClientFirst(Buffer.from(RFC7677.clientFirst)), credentials, true, RFC7677.serverNonce);
  const proof = RFC7677.clientFinal.split(',p=')[1]!;
  assert.throws(() => start().finish(Buffer.from(`c=biws,r=rOprNGfwEbeRWgbNEkqOother,p=${proof}`)), /nonce/);
  assert.throws(() => start().finish(Buffer.from(`c=eSws,r=${RFC7677.serverFirst.slice(2).split(',')[0]},p=${proof}`)), /channel binding/);
  assert.throws(() => start().finish(Buffer.from(`c=biws,r=${RFC7677.serverFirst.slice(2).split(',')[0]},p=AAAA`)), /not 32 bytes/);
  const once = start();
  once.finish(Buffer.from(RFC7677.clientFinal));
  assert.throws(() => once.finish(Buffer.from(RFC7677.clientFinal)), /over/);
});

test('fuzzed bytes never crash the parsers: a message parses or is a ScramMessageError', () => {
  const message = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
    fc
      .array(fc.constantFrom('n', 'y', 'p=x', ',', '=', '=2C', '=3D', 'n=', 'r=', 'c=', 'p=', 'm=', 'a=', 'biws', 'AAAA', 'u', '\u00e9', '\0'), { maxLength: 30 })
      .map((parts) => Buffer.from(parts.join(''))),
  );
  fc.assert(
    fc.property(message, (data) => {
      for (const parse of [parseClientFirst, parseClientFinal]) {
        try {
          parse(data);
        } catch (error) {
          assert.ok(error instanceof ScramMessageError, String(error));
        }
      }
    }),
    { numRuns: 2000, seed: 7677 },
  );
});

/** A provider over one in-memory user table, its nonce fixed. */
function provider(users: Record<string, PasswordHash>): ScramProvider {
  return new ScramProvider({ lookups: [(name) => users[name]], decoySecret: Buffer.alloc(32, 7), nonce: () => RFC7677.serverNonce });
}

function credentials(method: string, data: string | Buffer | undefined, username?: string): Credentials {
  return { clientId: 'c', username, password: undefined, info, method, data: typeof data === 'string' ? Buffer.from(data) : data };
}

test('fuzzed AUTH data never makes the provider throw: a refusal with Not authorized, or a next step', async () => {
  const users = { user: { kind: 'scram', ...(await scramCredentials('SCRAM-SHA-256', 'pencil', 4096, Buffer.from(RFC7677.salt, 'base64'))) } } as const;
  const scram = provider(users);
  const data = fc.oneof(fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)), fc.string({ maxLength: 60 }).map((s) => Buffer.from(`n,,n=user,r=${s}`)));
  await fc.assert(
    fc.asyncProperty(data, data, async (first, final) => {
      const answer = await scram.authenticate(credentials('SCRAM-SHA-256', first));
      const settled = answer.outcome === 'continue' ? await answer.exchange.next(final) : answer;
      assert.ok(settled.outcome === 'deny' || settled.outcome === 'accept', settled.outcome);
      if (settled.outcome === 'deny') assert.equal(settled.reasonCode, ReasonCode.NotAuthorized);
    }),
    { numRuns: 300, seed: 5802 },
  );
});

async function firstStep(scram: ScramProvider, mechanism: ScramMechanism, user: string): Promise<{ serverFirst: string; exchange: ProviderExchange }> {
  const answer: ProviderAnswer = await scram.authenticate(credentials(mechanism, `n,,n=${user},r=rOprNGfwEbeRWgbNEkqO`));
  assert.equal(answer.outcome, 'continue');
  if (answer.outcome !== 'continue') throw new Error('unreachable');
  return { serverFirst: answer.data!.toString(), exchange: answer.exchange };
}

test('the provider: RFC 7677 accepted with the user as identity; an unknown user sees a stable made-up salt and the same refusal', async () => {
  const users = { user: { kind: 'scram', ...(await scramCredentials('SCRAM-SHA-256', 'pencil', 4096, Buffer.from(RFC7677.salt, 'base64'))) } } as const;
  const scram = provider(users);
  const known = await firstStep(scram, 'SCRAM-SHA-256', 'user');
  assert.equal(known.serverFirst, RFC7677.serverFirst);
  const accepted = await known.exchange.next(Buffer.from(RFC7677.clientFinal));
  assert.equal(accepted.outcome, 'accept');
  if (accepted.outcome === 'accept') {
    assert.equal(accepted.username, 'user');
    assert.equal(accepted.data?.toString(), RFC7677.serverFinal);
  }

  const ghost = await firstStep(scram, 'SCRAM-SHA-256', 'ghost');
  const again = await firstStep(scram, 'SCRAM-SHA-256', 'ghost');
  const other = await firstStep(scram, 'SCRAM-SHA-256', 'phantom');
  const saltOf = (serverFirst: string) => serverFirst.split(',')[1];
  assert.equal(saltOf(ghost.serverFirst), saltOf(again.serverFirst), 'asking twice shows the same salt');
  assert.notEqual(saltOf(ghost.serverFirst), saltOf(other.serverFirst));
  assert.match(ghost.serverFirst, /,i=4096$/);
  const refused = await ghost.exchange.next(Buffer.from(RFC7677.clientFinal));
  const wrong = await (await firstStep(scram, 'SCRAM-SHA-256', 'user')).exchange.next(Buffer.from(RFC7677.clientFinal.replace('p=dHzb', 'p=dHza')));
  assert.equal(refused.outcome, 'deny');
  assert.equal(wrong.outcome, 'deny');
  if (refused.outcome === 'deny' && wrong.outcome === 'deny') {
    assert.deepEqual([refused.reasonCode, refused.reason], [wrong.reasonCode, wrong.reason], 'unknown user and wrong password look alike');
    assert.notEqual(refused.detail, wrong.detail, 'the log may tell them apart');
  }
});

test('the provider: a method it does not offer is not its; a CONNECT user name that differs is refused', async () => {
  const scram = provider({});
  assert.equal((await scram.authenticate(credentials('SCRAM-SHA-1', 'n,,n=user,r=x'))).outcome, 'not-mine');
  const answer = await scram.authenticate(credentials('SCRAM-SHA-512', 'n,,n=user,r=x', 'someone-else'));
  assert.equal(answer.outcome, 'deny');
});
