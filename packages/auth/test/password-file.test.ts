// The password file as Debian's mosquitto_passwd writes it, and garbage that must never grant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { INLINE_PBKDF2_MAX_ITERATIONS, hashPassword, parsePasswordFile, parsePasswordHash, verifyPassword } from '@roost/auth';

function mosquittoPasswd(lines: Array<{ user: string; password: string; hash?: 'sha512' | 'sha512-pbkdf2' }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'roost-passwd-'));
  const file = join(dir, 'passwd');
  try {
    lines.forEach(({ user, password, hash }, i) => {
      execFileSync('mosquitto_passwd', [...(hash ? ['-H', hash] : []), ...(i === 0 ? ['-c'] : []), '-b', file, user, password]);
    });
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("mosquitto_passwd's $7$ (PBKDF2-SHA512) and $6$ (SHA512) lines verify their password and no other", async () => {
  const text = mosquittoPasswd([
    { user: 'alice', password: 's3cret!' },
    { user: 'bob', password: 'hunter2', hash: 'sha512' },
    { user: 'carol', password: 'pässwörd with spaces' },
  ]);
  const { users, problems } = parsePasswordFile(text);
  assert.deepEqual(problems, []);
  assert.equal(users.get('alice')?.kind, 'pbkdf2-sha512');
  assert.equal(users.get('bob')?.kind, 'sha512');
  assert.equal(await verifyPassword(users.get('alice')!, Buffer.from('s3cret!')), true);
  assert.equal(await verifyPassword(users.get('alice')!, Buffer.from('s3cret')), false);
  assert.equal(await verifyPassword(users.get('alice')!, Buffer.from('')), false);
  assert.equal(await verifyPassword(users.get('bob')!, Buffer.from('hunter2')), true);
  assert.equal(await verifyPassword(users.get('bob')!, Buffer.from('hunter3')), false);
  assert.equal(await verifyPassword(users.get('carol')!, Buffer.from('pässwörd with spaces')), true);
});

test('comments, blank lines and CRLF endings are read; damaged lines are reported by number and grant nothing', () => {
  const good = mosquittoPasswd([{ user: 'alice', password: 'pw' }]).trim();
  const text = [
    '# users',
    '',
    `${good}\r`,
    'plain:password', // a plain text file not converted with mosquitto_passwd -U
    ':$7$101$AAAA$BBBB',
    'short:$7$101$c2FsdA==$aGFzaA==',
    'argon:$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA',
    'zero:$7$0$c2FsdHNhbHRzYWx0$' + Buffer.alloc(64).toString('base64'),
  ].join('\n');
  const { users, problems } = parsePasswordFile(text);
  assert.deepEqual([...users.keys()], ['alice']);
  assert.deepEqual(problems.map((p) => p.line), [4, 5, 6, 7, 8]);
  for (const problem of problems) assert.doesNotMatch(problem.reason, /:password|aGFzaA|c2Fsd/);
});

test('fuzzed lines never throw, and a line that parses names a user with a 64-byte hash', async () => {
  const line = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom('$7$', '$6$', '$7$101$', '$'), fc.base64String({ maxLength: 40 }), fc.string({ maxLength: 3 }), fc.base64String({ maxLength: 100 })).map((parts) => parts.join('')),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 8 }), fc.string({ maxLength: 10 }), async (lines, password) => {
      const { users } = parsePasswordFile(lines.join('\n'));
      for (const [user, hash] of users) {
        assert.ok(!user.includes(':') && user.length > 0);
        assert.ok(hash.kind !== 'scram', 'no generated line is a SCRAM entry');
        assert.equal(hash.hash.length, 64);
        // A random hash is not matched by a random password (2^-512).
        if (hash.kind === 'sha512') assert.equal(await verifyPassword(hash, Buffer.from(password)), false);
      }
    }),
    { numRuns: 300, seed: 11 },
  );
});

// Made with the reference implementation, Debian's libargon2 (argon2id_hash_encoded, the
// function Mosquitto 2.1's mosquitto_passwd calls), through Python's ctypes: see libargon2Hash.
const ARGON2ID_VECTORS = [
  { password: 'correct horse', line: '$argon2id$v=19$m=47104,t=1,p=1$c2l4dGVlbi1ieXRlLXNsdA$3gUSirGrnnV3qnX3wpBMLt56IQ5HejH/5TEH6PXY+Xo' },
  { password: 'pässwörd with spaces', line: '$argon2id$v=19$m=4096,t=3,p=2$MDEyMzQ1Njc4OWFiY2RlZg$FUvIBhppQUDWxe3mJlgj8x0q2MQXmWesNio8h4SL9H0' },
  {
    password: 'x',
    line: '$argon2id$v=19$m=1024,t=2,p=4$MTIzNDU2Nzg$xDDyKlkbzzid66ThtNN0WusRM16gmm27rXB766nbto13OyT+aVl2LuDTGALq5J6V3onwTCW3jbiyp216xEajSQ',
  },
];

test("argon2id lines as libargon2 encodes them (Mosquitto 2.1's) verify their password and no other", async () => {
  const text = ARGON2ID_VECTORS.map(({ line }, i) => `user${i}:${line}`).join('\n');
  const { users, problems } = parsePasswordFile(text);
  assert.deepEqual(problems, []);
  for (const [i, { password }] of ARGON2ID_VECTORS.entries()) {
    const hash = users.get(`user${i}`)!;
    assert.equal(hash.kind, 'argon2id');
    assert.equal(await verifyPassword(hash, Buffer.from(password)), true);
    assert.equal(await verifyPassword(hash, Buffer.from(`${password}!`)), false);
    assert.equal(await verifyPassword(hash, Buffer.alloc(0)), false);
  }
});

/** A fresh argon2id line from libargon2 itself, or undefined where Python or the library is missing. */
function libargon2Hash(password: string, salt: string): string | undefined {
  const script = [
    'import ctypes, sys',
    "f = ctypes.CDLL('libargon2.so.1').argon2id_hash_encoded",
    'f.argtypes = [ctypes.c_uint32] * 3 + [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]',
    'pw, salt = sys.argv[1].encode(), sys.argv[2].encode()',
    'out = ctypes.create_string_buffer(512)',
    'assert f(2, 2048, 1, pw, len(pw), salt, len(salt), 32, out, 512) == 0',
    'print(out.value.decode())',
  ].join('\n');
  try {
    return execFileSync('python3', ['-c', script, password, salt], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

test('a line libargon2 makes now, for a random password, verifies', async (t) => {
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const line = libargon2Hash(password, `salt-${Math.random().toString(36).slice(2, 10)}`);
  if (line === undefined) return t.skip('python3 with libargon2 is not installed');
  const { users } = parsePasswordFile(`u:${line}`);
  assert.equal(await verifyPassword(users.get('u')!, Buffer.from(password)), true);
  assert.equal(await verifyPassword(users.get('u')!, Buffer.from(password.slice(1))), false);
});

test('argon2id lines out of bounds or damaged grant nothing: other versions, costs beyond the limits, short salts, padding', () => {
  const salt = 'c2l4dGVlbi1ieXRlLXNsdA';
  const hash = '3gUSirGrnnV3qnX3wpBMLt56IQ5HejH/5TEH6PXY+Xo';
  const lines = [
    `$argon2id$v=16$m=47104,t=1,p=1$${salt}$${hash}`, // argon2 1.0, not RFC 9106
    `$argon2i$v=19$m=47104,t=1,p=1$${salt}$${hash}`,
    `$argon2id$v=19$m=4194304,t=1,p=1$${salt}$${hash}`, // 4 GiB per CONNECT
    `$argon2id$v=19$m=47104,t=1000,p=1$${salt}$${hash}`,
    `$argon2id$v=19$m=47104,t=0,p=1$${salt}$${hash}`,
    `$argon2id$v=19$m=4,t=1,p=1$${salt}$${hash}`,
    `$argon2id$v=19$t=1,m=47104,p=1$${salt}$${hash}`,
    `$argon2id$v=19$m=47104,t=1,p=1$c2FsdA$${hash}`, // 4-byte salt
    `$argon2id$v=19$m=47104,t=1,p=1$${salt}==$${hash}`,
    `$argon2id$v=19$m=47104,t=1,p=1$${salt}`,
  ];
  const { users, problems } = parsePasswordFile(lines.map((line, i) => `u${i}:${line}`).join('\n'));
  assert.equal(users.size, 0);
  assert.equal(problems.length, lines.length);
});

test('$7$ hashes on either side of the inline bound (event loop / thread pool) verify their password and no other', async () => {
  for (const iterations of [1, INLINE_PBKDF2_MAX_ITERATIONS, INLINE_PBKDF2_MAX_ITERATIONS + 1, 1000]) {
    const hash = parsePasswordHash(await hashPassword(Buffer.from('pw'), iterations))!;
    assert.equal(hash.kind === 'pbkdf2-sha512' && hash.iterations, iterations);
    assert.equal(await verifyPassword(hash, Buffer.from('pw')), true, `${iterations}`);
    assert.equal(await verifyPassword(hash, Buffer.from('pw2')), false, `${iterations}`);
  }
});
