// The files bench:compare's security rows run on (scripts/bench/auth-files.ts): Roost reads
// them as it would an operator's, the bench user may do what the scenarios do, and the ACL
// holds the 100 rules the rows claim.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { compileAclRules, parseAclFile, parsePasswordFile, verifyPassword } from '@roost/auth';
import { ACL_RULES, writeAuthFiles } from '../../../scripts/bench/auth-files.ts';

describe('bench:compare password and ACL files', () => {
  const files = writeAuthFiles();
  after(() => files.remove());

  it('the password file is mosquitto_passwd\'s PBKDF2-SHA512 at its default iterations, and holds the bench user\'s password', async () => {
    const { users, problems } = parsePasswordFile(readFileSync(files.passwordFile, 'utf8'));
    assert.deepEqual(problems, []);
    const hash = users.get(files.username);
    assert.ok(hash && hash.kind === 'pbkdf2-sha512');
    assert.equal(hash.iterations, 101);
    assert.equal(await verifyPassword(hash, Buffer.from(files.password)), true);
    assert.equal(await verifyPassword(hash, Buffer.from(`${files.password}x`)), false);
  });

  it(`the ACL file parses whole, with ${ACL_RULES} rules, pattern rules among them`, () => {
    const text = readFileSync(files.aclFile, 'utf8');
    assert.deepEqual(parseAclFile(text).problems, []);
    const rules = text.split('\n').filter((line) => /^(topic|pattern) /.test(line));
    assert.equal(rules.length, ACL_RULES);
    assert.ok(rules.some((line) => line.startsWith('pattern ') && line.includes('%u')));
    assert.ok(rules.some((line) => line.startsWith('pattern ') && line.includes('%c')));
  });

  it('the bench user may publish and subscribe as the scenarios do; its deny still holds', () => {
    const { rules } = parseAclFile(readFileSync(files.aclFile, 'utf8'));
    const client = compileAclRules(rules, { clientId: 'bench-run1-w0-p3', username: files.username, provider: 'password-file' });
    assert.equal(client.allowsTopic('write', 'roost-bench/run1/p3'), true);
    assert.equal(client.allowsFilter('roost-bench/run1/#'), true);
    assert.equal(client.allowsTopic('read', 'roost-bench/run1/all'), true);
    assert.equal(client.allowsTopic('read', 'roost-bench/run1/secret'), false);
    const other = compileAclRules(rules, { clientId: 'x', username: 'device-3', provider: 'password-file' });
    assert.equal(other.allowsTopic('write', 'roost-bench/run1/p3'), false);
  });
});
