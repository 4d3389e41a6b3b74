import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopicTree } from '../src/index.ts';

function matches<V>(tree: TopicTree<V>, filter: string): string[] {
  const found: string[] = [];
  tree.match(filter, (topic, value) => found.push(`${topic}=${String(value)}`));
  return found.sort();
}

test('set, get, replace and delete', () => {
  const tree = new TopicTree<number>();
  tree.set('a/b', 1);
  tree.set('a/b', 2);
  tree.set('a', 3);
  assert.equal(tree.size, 2);
  assert.equal(tree.get('a/b'), 2);
  assert.equal(tree.get('a'), 3);
  assert.equal(tree.get('a/b/c'), undefined);
  assert.equal(tree.get('a/'), undefined);
  assert.equal(tree.delete('a/b/c'), false);
  assert.equal(tree.delete('a/b'), true);
  assert.equal(tree.delete('a/b'), false);
  assert.equal(tree.size, 1);
  assert.equal(tree.get('a'), 3);
});

test('deleting prunes emptied nodes but keeps those still in use', () => {
  const tree = new TopicTree<number>();
  tree.set('a/b/c/d', 1);
  tree.set('a/b', 2);
  tree.delete('a/b/c/d');
  assert.equal(tree.nodeCount, 2);
  assert.deepEqual(matches(tree, '#'), ['a/b=2']);
  tree.delete('a/b');
  assert.equal(tree.nodeCount, 0);
  assert.equal(tree.size, 0);
});

test('match walks only the branches the filter names', () => {
  const tree = new TopicTree<number>();
  tree.set('sport', 0);
  tree.set('sport/tennis/player1', 1);
  tree.set('sport/tennis/player1/ranking', 2);
  tree.set('sport/tennis/player2', 3);
  tree.set('sport/golf', 4);
  tree.set('news', 5);
  tree.set('/finance', 6);
  assert.deepEqual(matches(tree, 'sport/tennis/player1'), ['sport/tennis/player1=1']);
  assert.deepEqual(matches(tree, 'sport/tennis/+'), ['sport/tennis/player1=1', 'sport/tennis/player2=3']);
  assert.deepEqual(matches(tree, 'sport/#'), [
    'sport/golf=4',
    'sport/tennis/player1/ranking=2',
    'sport/tennis/player1=1',
    'sport/tennis/player2=3',
    'sport=0',
  ]);
  assert.deepEqual(matches(tree, '+'), ['news=5', 'sport=0']);
  assert.deepEqual(matches(tree, '+/+'), ['/finance=6', 'sport/golf=4']);
  assert.deepEqual(matches(tree, 'nothing/#'), []);
});

test('[MQTT-4.7.2-1] # and + in the first level skip $ topics', () => {
  const tree = new TopicTree<number>();
  tree.set('$SYS/broker/uptime', 1);
  tree.set('$share', 2);
  tree.set('a/$SYS', 3);
  assert.deepEqual(matches(tree, '#'), ['a/$SYS=3']);
  assert.deepEqual(matches(tree, '+/broker/uptime'), []);
  assert.deepEqual(matches(tree, '+'), []);
  assert.deepEqual(matches(tree, '+/+'), ['a/$SYS=3']);
  assert.deepEqual(matches(tree, '$SYS/#'), ['$SYS/broker/uptime=1']);
  assert.deepEqual(matches(tree, '$SYS/+/uptime'), ['$SYS/broker/uptime=1']);
});

test('a value of undefined is stored and visited like any other', () => {
  const tree = new TopicTree<undefined>();
  tree.set('a', undefined);
  assert.equal(tree.size, 1);
  assert.deepEqual(matches(tree, 'a'), ['a=undefined']);
  assert.equal(tree.delete('a'), true);
  assert.equal(tree.size, 0);
});

test('a topic of the maximum depth is stored and matched without exhausting the stack', () => {
  const depth = 32768; // the deepest topic that fits in 65535 bytes [MQTT-4.7.3-3]
  const topic = Array.from({ length: depth }, () => 'a').join('/');
  const tree = new TopicTree<number>();
  tree.set(topic, 1);
  assert.deepEqual(matches(tree, '#').length, 1);
  assert.deepEqual(matches(tree, Array.from({ length: depth }, () => '+').join('/')).length, 1);
  assert.equal(tree.delete(topic), true);
  assert.equal(tree.nodeCount, 0);
});
