// Mosquitto's acl_file format, and the compiled rules against a naive reading of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { topicMatches } from '@roost/topics';
import { compileAclRules, covers, parseAclFile, type AclFileRules, type AclRule } from '@roost/auth';
import type { ClientIdentity } from '@roost/broker';

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
