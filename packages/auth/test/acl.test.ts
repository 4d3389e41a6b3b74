// Mosquitto's acl_file format, and the compiled rules against a naive reading of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import fc from 'fast-check';
import { topicMatches } from '@roost/topics';
import { AclFileSource, compileAclRules, covers, parseAclFile, type AclFileRules, type AclRule } from '@roost/auth';
import { ClientPermissions, type ClientIdentity, type Logger } from '@roost/broker';

const alice: ClientIdentity = { clientId: 'dev-1', username: 'alice', provider: 'password-file' };
const anonymous: ClientIdentity = { clientId: 'anon-1', username: undefined, provider: 'anonymous' };

function parsed(text: string): AclFileRules {
  const { rules, problems } = parseAclFile(text);
  assert.deepEqual(problems, []);
  return rules;
}

test('sections: lines before any user are for anonymous clients; patterns for everyone; access defaults to readwrite', () => {
  const rules = parsed(['# comment', 'topic read public/#', '', 'user alice', 'topic alice/#', 'topic write  with space/x ', 'pattern read devices/%c/in', 'user bob smith', 'topic deny alice/#'].join('\n'));
  assert.deepEqual(rules.anonymous, [{ access: 'read', filter: 'public/#' }]);
  assert.deepEqual(rules.users.get('alice'), [{ access: 'readwrite', filter: 'alice/#' }, { access: 'write', filter: 'with space/x' }]);
  assert.deepEqual(rules.users.get('bob smith'), [{ access: 'deny', filter: 'alice/#' }]);
  assert.deepEqual(rules.patterns, [{ access: 'read', filter: 'devices/%c/in' }]);
});

test('bad lines are reported by number: unknown keywords, missing filters, invalid filters', () => {
  const { problems } = parseAclFile(['topic', 'user', 'topic read a/#/b', 'topci read a', 'topic read'].join('\n'));
  assert.deepEqual(problems.map((p) => p.line), [1, 2, 3, 4, 5]);
});

test('a user allowed a/# but denied a/secret may subscribe to a/# and + but not receive a/secret; a/secret itself is refused', () => {
  const rules = compileAclRules(parsed('user alice\ntopic read a/#\ntopic deny a/secret'), alice);
  assert.equal(rules.allowsFilter('a/#'), true);
  assert.equal(rules.allowsFilter('a/+'), true);
  assert.equal(rules.allowsFilter('a/secret'), false);
  assert.equal(rules.allowsTopic('read', 'a/public'), true);
  assert.equal(rules.allowsTopic('read', 'a/secret'), false);
  assert.equal(rules.allowsTopic('write', 'a/public'), false);
});

test('only a/+ allowed: # and a/# are refused, a/+ and a/x granted, a/x/y not readable', () => {
  const rules = compileAclRules(parsed('user alice\ntopic a/+'), alice);
  assert.equal(rules.allowsFilter('#'), false);
  assert.equal(rules.allowsFilter('a/#'), false);
  assert.equal(rules.allowsFilter('+/+'), false);
  assert.equal(rules.allowsFilter('a/+'), true);
  assert.equal(rules.allowsFilter('a/x'), true);
  assert.equal(rules.allowsTopic('read', 'a/x/y'), false);
  assert.equal(rules.allowsTopic('write', 'a/x'), true);
});

test('patterns: %u and %c are whole levels; a name that is a wildcard or has a slash gets nothing; %u needs a user name', () => {
  const file = parsed('pattern readwrite users/%u/#\npattern read devices/%c\npattern read x%u/y');
  const rules = compileAclRules(file, alice);
  assert.equal(rules.allowsTopic('write', 'users/alice/t'), true);
  assert.equal(rules.allowsTopic('write', 'users/bob/t'), false);
  assert.equal(rules.allowsTopic('read', 'devices/dev-1'), true);
  assert.equal(rules.allowsTopic('read', 'xalice/y'), false);
  assert.equal(rules.allowsTopic('read', 'x%u/y'), true); // not a whole level: literal
  for (const username of ['#', '+', 'a/b']) {
    const evil = compileAclRules(file, { ...alice, username });
    assert.equal(evil.allowsTopic('write', 'users/bob/t'), false, username);
    assert.equal(evil.allowsFilter('users/#'), false, username);
  }
  const anon = compileAclRules(file, anonymous);
  assert.equal(anon.allowsTopic('write', 'users/alice/t'), false);
  assert.equal(anon.allowsTopic('read', 'devices/anon-1'), true);
});

test('[MQTT-4.7.2-1] $SYS is readable unless denied; # does not reach it', () => {
  const open = compileAclRules(parsed('user alice\ntopic readwrite #'), alice);
  assert.equal(open.allowsFilter('$SYS/#'), true);
  assert.equal(open.allowsTopic('read', '$SYS/broker/uptime'), true);
  assert.equal(open.allowsTopic('write', '$SYS/broker/uptime'), false);
  const denied = compileAclRules(parsed('user alice\ntopic readwrite #\ntopic deny $SYS/#'), alice);
  assert.equal(denied.allowsFilter('$SYS/broker/uptime'), false);
  assert.equal(denied.allowsTopic('read', '$SYS/broker/uptime'), false);
});

// ---- properties against a naive reading ----

const level = fc.constantFrom('a', 'b', '$SYS', '');
const topicArb = fc.array(level, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/'));
const filterArb = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', '$SYS', '', '+'), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/'));
const ruleArb: fc.Arbitrary<AclRule> = fc.record({ access: fc.constantFrom('read', 'write', 'readwrite', 'deny'), filter: filterArb });

/** The rules read literally: any deny refuses, then any grant of that access allows. */
function naiveAllows(rules: readonly AclRule[], access: 'read' | 'write', topic: string): boolean {
  const all = [...rules, { access: 'read', filter: '$SYS/#' } as AclRule];
  if (all.some((r) => r.access === 'deny' && topicMatches(r.filter, topic))) return false;
  return all.some((r) => (r.access === 'readwrite' || r.access === access) && topicMatches(r.filter, topic));
}

test('property: compiled topic decisions equal the naive matcher', () => {
  fc.assert(
    fc.property(fc.array(ruleArb, { maxLength: 6 }), topicArb, fc.constantFrom('read', 'write'), (rules, topic, access) => {
      const compiled = compileAclRules({ anonymous: [], users: new Map([['alice', rules]]), patterns: [] }, alice);
      assert.equal(compiled.allowsTopic(access as 'read' | 'write', topic), naiveAllows(rules, access as 'read' | 'write', topic));
    }),
    { numRuns: 2000, seed: 11 },
  );
});

test('property: a rule that covers a filter matches every topic the filter matches', () => {
  fc.assert(
    fc.property(filterArb, filterArb, fc.array(topicArb, { minLength: 1, maxLength: 20 }), (rule, filter, topics) => {
      if (!covers(rule.split('/'), filter.split('/'))) return;
      for (const topic of topics) if (topicMatches(filter, topic)) assert.ok(topicMatches(rule, topic), `${rule} covers ${filter} but not ${topic}`);
    }),
    { numRuns: 3000, seed: 11 },
  );
});

test('property: a granted subscription never delivers what no grant allows (subscribe check ∘ receive check)', () => {
  fc.assert(
    fc.property(fc.array(ruleArb, { maxLength: 6 }), filterArb, topicArb, (rules, filter, topic) => {
      const compiled = compileAclRules({ anonymous: [], users: new Map([['alice', rules]]), patterns: [] }, alice);
      if (!compiled.allowsFilter(filter) || !topicMatches(filter, topic)) return;
      // Granted filters may match topics a deny refuses; those are refused per delivery.
      const anyDeny = rules.some((r) => r.access === 'deny' && topicMatches(r.filter, topic));
      if (!anyDeny) assert.equal(compiled.allowsTopic('read', topic), true, `${filter} granted but ${topic} not readable`);
    }),
    { numRuns: 3000, seed: 11 },
  );
});

/** The old reading of a pattern: `%u` and `%c` levels replaced by the client's values; dropped when one cannot stand as a level. */
function substituted(filter: string, identity: ClientIdentity): string | undefined {
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    if (levels[i] !== '%u' && levels[i] !== '%c') continue;
    const value = levels[i] === '%u' ? identity.username : identity.clientId;
    if (value === undefined || value === '' || /[+#/]/.test(value)) return undefined;
    levels[i] = value;
  }
  return levels.join('/');
}

test('property: patterns decide as the file with %u and %c written out for the client (topics and filters)', () => {
  const patternLevel = fc.constantFrom('a', '', '+', '%u', '%c', '$SYS', 'x%u');
  const patternArb = fc
    .tuple(fc.array(patternLevel, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.constantFrom('read', 'write', 'readwrite', 'deny'))
    .map(([levels, hash, access]) => ({ access, filter: [...levels, ...(hash ? ['#'] : [])].join('/') }) as AclRule);
  const value = fc.constantFrom('a', 'alice', '', '#', '+', 'a/b', '%c', '$SYS');
  const identityArb = fc.record({ clientId: value, username: fc.option(value, { nil: undefined }), provider: fc.constant('password-file') });
  const nameLevel = fc.constantFrom('a', 'alice', '', '$SYS', '%c', 'x%u');
  const topicOf = fc.array(nameLevel, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/'));
  const filterOf = fc.tuple(fc.array(fc.oneof(nameLevel, fc.constant('+')), { minLength: 1, maxLength: 4 }), fc.boolean()).map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/'));
  fc.assert(
    fc.property(fc.array(patternArb, { maxLength: 5 }), identityArb, topicOf, filterOf, fc.constantFrom('read', 'write'), (patterns, identity, topic, filter, access) => {
      const compiled = compileAclRules({ anonymous: [], users: new Map(), patterns }, identity);
      const written = patterns.flatMap((rule) => {
        const filter = substituted(rule.filter, identity);
        return filter === undefined ? [] : [{ access: rule.access, filter }];
      });
      const literal = compileAclRules({ anonymous: [], users: new Map([['u', written]]), patterns: [] }, { ...identity, username: 'u' });
      assert.equal(compiled.allowsTopic(access as 'read' | 'write', topic), naiveAllows(written, access as 'read' | 'write', topic));
      assert.equal(compiled.allowsFilter(filter), literal.allowsFilter(filter));
    }),
    { numRuns: 3000, seed: 11 },
  );
});

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

test('a reloaded ACL file applies to a connected client\'s next PUBLISH and delivery, though the old decisions were cached', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roost-acl-reload-'));
  const path = join(dir, 'acl');
  writeFileSync(path, 'user alice\ntopic readwrite a/#\n');
  const source = new AclFileSource(path, quiet);
  try {
    const permissions = new ClientPermissions(alice, source);
    assert.equal(permissions.canPublish('a/1'), true);
    assert.equal(permissions.canPublish('a/1'), true);
    assert.equal(permissions.canReceive('a/1'), true);
    assert.equal(permissions.canPublish('b/1'), false);
    const before = source.generation;
    writeFileSync(path, 'user alice\ntopic readwrite b/#\n');
    for (let waited = 0; source.generation === before && waited < 5000; waited += 20) await delay(20);
    assert.notEqual(source.generation, before, 'the file was reloaded');
    assert.equal(permissions.canPublish('a/1'), false);
    assert.equal(permissions.canReceive('a/1'), false);
    assert.equal(permissions.canPublish('b/1'), true);
  } finally {
    source.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
