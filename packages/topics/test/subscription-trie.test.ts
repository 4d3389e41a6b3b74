import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SubscriptionTrie } from '../src/index.ts';

function matches<V>(trie: SubscriptionTrie<V>, topic: string): string[] {
  const found: string[] = [];
  trie.match(topic, (key, value, filter) => found.push(`${filter} ${key}=${String(value)}`));
  return found.sort();
}

test('add reports the first entry of a filter, and replaces an existing key', () => {
  const trie = new SubscriptionTrie<number>();
  assert.equal(trie.add('sport/#', 'a', 1), true);
  assert.equal(trie.add('sport/#', 'b', 2), false);
  assert.equal(trie.add('sport/#', 'a', 3), false);
  assert.equal(trie.size, 2);
  assert.equal(trie.filterCount, 1);
  assert.equal(trie.get('sport/#', 'a'), 3);
  assert.deepEqual([...trie.entries('sport/#')!], [['a', 3], ['b', 2]]);
});

test('remove reports the last entry of a filter and ignores what is absent', () => {
  const trie = new SubscriptionTrie<number>();
  trie.add('a/+', 'x', 1);
  trie.add('a/+', 'y', 2);
  assert.equal(trie.remove('a/+', 'nobody'), false);
  assert.equal(trie.remove('a/#', 'x'), false);
  assert.equal(trie.remove('a', 'x'), false); // a prefix node, no filter of its own
  assert.equal(trie.size, 2);
  assert.equal(trie.remove('a/+', 'x'), false);
  assert.equal(trie.hasFilter('a/+'), true);
  assert.equal(trie.remove('a/+', 'y'), true);
  assert.equal(trie.hasFilter('a/+'), false);
  assert.equal(trie.entries('a/+'), undefined);
  assert.equal(trie.remove('a/+', 'y'), false);
  assert.equal(trie.size, 0);
  assert.equal(trie.filterCount, 0);
});

test('a removed filter can come back as a first entry', () => {
  const trie = new SubscriptionTrie<number>();
  assert.equal(trie.add('a', 'x', 1), true);
  assert.equal(trie.remove('a', 'x'), true);
  assert.equal(trie.add('a', 'x', 1), true);
});

test('removing prunes emptied nodes but keeps those still in use', () => {
  const trie = new SubscriptionTrie<number>();
  trie.add('a/b/c/d', 'x', 1);
  trie.add('a/b', 'x', 1);
  trie.add('a/+/#', 'x', 1);
  const full = trie.nodeCount;
  trie.remove('a/b/c/d', 'x');
  assert.equal(trie.nodeCount, full - 2); // c and d went, a/b still holds a filter
  assert.deepEqual(matches(trie, 'a/b'), ['a/+/# x=1', 'a/b x=1']);
  trie.remove('a/b', 'x');
  trie.remove('a/+/#', 'x');
  assert.equal(trie.nodeCount, 0);
});

test('subscribe/unsubscribe churn leaves no nodes behind', () => {
  const trie = new SubscriptionTrie<number>();
  for (let i = 0; i < 1000; i++) {
    trie.add(`dev/${i}/+/#`, `c${i}`, i);
    trie.add(`dev/${i}/state`, `c${i}`, i);
  }
  for (let i = 0; i < 1000; i++) {
    assert.equal(trie.remove(`dev/${i}/+/#`, `c${i}`), true);
    assert.equal(trie.remove(`dev/${i}/state`, `c${i}`), true);
  }
  assert.equal(trie.size, 0);
  assert.equal(trie.filterCount, 0);
  assert.equal(trie.nodeCount, 0);
});

test('match visits every entry of every matching filter with its filter', () => {
  const trie = new SubscriptionTrie<string>();
  trie.add('sport/tennis/player1', 'a', 'exact');
  trie.add('sport/tennis/+', 'b', 'plus');
  trie.add('sport/#', 'c', 'hash');
  trie.add('sport/#', 'd', 'hash');
  trie.add('#', 'e', 'all');
  trie.add('+/+/+', 'f', 'three');
  trie.add('sport/tennis/player2', 'g', 'other');
  assert.deepEqual(matches(trie, 'sport/tennis/player1'), [
    '# e=all',
    '+/+/+ f=three',
    'sport/# c=hash',
    'sport/# d=hash',
    'sport/tennis/+ b=plus',
    'sport/tennis/player1 a=exact',
  ]);
  assert.deepEqual(matches(trie, 'sport'), ['# e=all', 'sport/# c=hash', 'sport/# d=hash']);
});

test('[MQTT-4.7.2-1] match skips first-level wildcards for $ topics', () => {
  const trie = new SubscriptionTrie<number>();
  trie.add('#', 'a', 1);
  trie.add('+/broker/uptime', 'b', 1);
  trie.add('$SYS/#', 'c', 1);
  trie.add('$SYS/+/uptime', 'd', 1);
  assert.deepEqual(matches(trie, '$SYS/broker/uptime'), ['$SYS/# c=1', '$SYS/+/uptime d=1']);
  assert.deepEqual(matches(trie, 'x/broker/uptime'), ['# a=1', '+/broker/uptime b=1']);
});

test('a value of undefined is stored and visited like any other', () => {
  const trie = new SubscriptionTrie<undefined>();
  trie.add('a', 'x', undefined);
  assert.equal(trie.hasFilter('a'), true);
  assert.deepEqual(matches(trie, 'a'), ['a x=undefined']);
});

test('a topic of the maximum depth matches without exhausting the stack', () => {
  // 32768 one-byte levels is the deepest topic that fits in 65535 bytes [MQTT-4.7.3-3].
  const depth = 32768;
  const topic = Array.from({ length: depth }, () => 'a').join('/');
  const filter = Array.from({ length: depth }, () => '+').join('/');
  const trie = new SubscriptionTrie<number>();
  trie.add(filter, 'deep', 1);
  trie.add(topic, 'exact', 1);
  trie.add('a/#', 'shallow', 1);
  const keys: string[] = [];
  trie.match(topic, (key) => keys.push(key));
  assert.deepEqual(keys.sort(), ['deep', 'exact', 'shallow']);
  trie.remove(filter, 'deep');
  trie.remove(topic, 'exact');
  trie.remove('a/#', 'shallow');
  assert.equal(trie.nodeCount, 0);
});
