// The spec's matching examples, run against all three matchers: the reference matcher,
// the subscription trie (filters stored, topic looked up) and the topic tree (topics stored,
// filter looked up). The property tests then cover what examples miss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SubscriptionTrie, TopicTree, topicMatches } from '../src/index.ts';

function trieMatches(filter: string, topic: string): boolean {
  const trie = new SubscriptionTrie<number>();
  trie.add(filter, 'c', 1);
  let hits = 0;
  trie.match(topic, () => hits++);
  return hits > 0;
}

function treeMatches(filter: string, topic: string): boolean {
  const tree = new TopicTree<number>();
  tree.set(topic, 1);
  let hits = 0;
  tree.match(filter, () => hits++);
  return hits > 0;
}

function assertMatch(expected: boolean, filter: string, topics: string[]): void {
  for (const topic of topics) {
    const label = `${JSON.stringify(filter)} vs ${JSON.stringify(topic)}`;
    assert.equal(topicMatches(filter, topic), expected, `topicMatches ${label}`);
    assert.equal(trieMatches(filter, topic), expected, `SubscriptionTrie ${label}`);
    assert.equal(treeMatches(filter, topic), expected, `TopicTree ${label}`);
  }
}

test('[MQTT-4.7.1-2] # matches the parent level and any number of child levels', () => {
  assertMatch(true, 'sport/tennis/player1/#', ['sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon']);
  assertMatch(true, 'sport/#', ['sport', 'sport/', 'sport/tennis', 'sport//x']);
  assertMatch(true, '#', ['sport', '/', '/finance', 'a/b/c/d']);
  assertMatch(false, 'sport/tennis/player1/#', ['sport/tennis', 'sport/tennis/player2']);
  assertMatch(false, 'sport/#', ['sports', 'sportx/tennis', 'other/sport']);
});

test('[MQTT-4.7.1-3] + matches exactly one level, an empty one included', () => {
  assertMatch(true, 'sport/tennis/+', ['sport/tennis/player1', 'sport/tennis/player2', 'sport/tennis/']);
  assertMatch(false, 'sport/tennis/+', ['sport/tennis/player1/ranking', 'sport/tennis']);
  assertMatch(false, 'sport/+', ['sport']);
  assertMatch(true, 'sport/+', ['sport/']);
  assertMatch(true, '+/+', ['/finance', '/', 'a/b']);
  assertMatch(true, '/+', ['/finance']);
  assertMatch(false, '+', ['/finance', '/']);
  assertMatch(true, '+/tennis/#', ['sport/tennis', 'sport/tennis/player1']);
  assertMatch(true, '+/+/#', ['a/b', 'a/b/c']);
  assertMatch(false, '+/+/#', ['a']);
});

test('[MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with $', () => {
  assertMatch(false, '#', ['$SYS', '$SYS/broker/uptime', '$', '$foo/bar']);
  assertMatch(false, '+/monitor/Clients', ['$SYS/monitor/Clients']);
  assertMatch(false, '+', ['$SYS']);
  assertMatch(false, '+/#', ['$SYS/a']);
  assertMatch(true, '$SYS/#', ['$SYS', '$SYS/monitor/Clients']);
  assertMatch(true, '$SYS/monitor/+', ['$SYS/monitor/Clients']);
  assertMatch(true, '$SYS/+/Clients', ['$SYS/monitor/Clients']);
  // Only the first level is special: `$` further down is an ordinary character.
  assertMatch(true, '+/+', ['a/$SYS']);
  assertMatch(true, 'a/#', ['a/$SYS/x']);
  assertMatch(true, '#', ['a$', ' $SYS']);
});

test('[MQTT-4.7.3-4] levels compare exactly, without normalisation', () => {
  assertMatch(false, 'ACCOUNTS', ['Accounts', 'accounts']);
  assertMatch(true, 'Accounts payable', ['Accounts payable']);
  assertMatch(false, 'Accounts payable', ['Accounts  payable', ' Accounts payable']);
  assertMatch(false, 'caf\u00e9', ['cafe\u0301']); // NFC vs NFD
  assertMatch(false, '\uFEFFsport', ['sport']); // [MQTT-1.5.4-3] a BOM is not stripped
  assertMatch(false, 'sport/', ['sport']);
  assertMatch(false, '/finance', ['finance']);
  assertMatch(true, 'a//b', ['a//b']);
  assertMatch(false, 'a//b', ['a/b']);
});
