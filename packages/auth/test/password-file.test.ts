// The password file as Debian's mosquitto_passwd writes it, and garbage that must never grant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parsePasswordFile, verifyPassword } from '@roost/auth';

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
        assert.equal(hash.hash.length, 64);
        // A random hash is not matched by a random password (2^-512).
        if (hash.kind === 'sha512') assert.equal(await verifyPassword(hash, Buffer.from(password)), false);
      }
    }),
    { numRuns: 300, seed: 11 },
  );
});
