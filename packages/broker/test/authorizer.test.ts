// ClientPermissions' decision caches: a PUBLISH or a delivery asks the rules once per topic,
// a new generation of the rule source (a reloaded ACL file) is applied to the next check even
// though the old decision was cached, and the caches stay bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CACHED_TOPIC_MAX_LENGTH, ClientPermissions, PUBLISH_CACHE_LIMIT, type Access, type ClientRules, type RuleSource } from '@roost/broker';

/** A rule source whose rules allow what `allowed` holds now, counting each question put to them. */
class CountingSource implements RuleSource {
  readonly name = 'counting';
  generation = 1;
  asked = 0;
  allowed = new Set<string>();

  compile(): ClientRules {
    const granted = new Set(this.allowed);
    return {
      allowsTopic: (_access: Access, topic: string) => {
        this.asked++;
        return granted.has(topic);
      },
      allowsFilter: () => true,
    };
  }
}

const identity = { clientId: 'c1', username: 'alice', provider: 'password-file' };

test('a PUBLISH decision is cached per topic: the rules are asked once for repeated publishes', () => {
  const source = new CountingSource();
  source.allowed.add('a/1');
  const permissions = new ClientPermissions(identity, source);
  for (let i = 0; i < 5; i++) assert.equal(permissions.canPublish('a/1'), true);
  for (let i = 0; i < 5; i++) assert.equal(permissions.canPublish('a/2'), false);
  assert.equal(source.asked, 2);
});

test('a new generation applies to the next PUBLISH and delivery, although the old decisions were cached', () => {
  const source = new CountingSource();
  source.allowed.add('a/1');
  const permissions = new ClientPermissions(identity, source);
  assert.equal(permissions.canPublish('a/1'), true);
  assert.equal(permissions.canReceive('a/1'), true);
  assert.equal(permissions.canPublish('b/1'), false);
  source.allowed = new Set(['b/1']);
  source.generation++;
  assert.equal(permissions.canPublish('a/1'), false);
  assert.equal(permissions.canReceive('a/1'), false);
  assert.equal(permissions.canPublish('b/1'), true);
});

test('the publish cache is bounded: past its limit it starts again, and a topic is asked again', () => {
  const source = new CountingSource();
  const permissions = new ClientPermissions(identity, source);
  for (let i = 0; i < PUBLISH_CACHE_LIMIT; i++) permissions.canPublish(`t/${i}`);
  permissions.canPublish('t/0');
  assert.equal(source.asked, PUBLISH_CACHE_LIMIT, 'all of them fit');
  permissions.canPublish(`t/${PUBLISH_CACHE_LIMIT}`);
  permissions.canPublish('t/0');
  assert.equal(source.asked, PUBLISH_CACHE_LIMIT + 2, 'the full cache was dropped for the new topic');
});

test('a topic longer than the cached length is asked every time, not kept', () => {
  const source = new CountingSource();
  const long = `a/${'x'.repeat(CACHED_TOPIC_MAX_LENGTH)}`;
  source.allowed.add(long);
  const permissions = new ClientPermissions(identity, source);
  for (let i = 0; i < 3; i++) {
    assert.equal(permissions.canPublish(long), true);
    assert.equal(permissions.canReceive(long), true);
  }
  assert.equal(source.asked, 6);
});

test('`$` topics are never published by clients, whatever the rules or the cache say', () => {
  const source = new CountingSource();
  source.allowed.add('$SYS/x');
  const permissions = new ClientPermissions(identity, source);
  assert.equal(permissions.canPublish('$SYS/x'), false);
  assert.equal(new ClientPermissions(identity).canPublish('$SYS/x'), false);
  assert.equal(source.asked, 0);
});
