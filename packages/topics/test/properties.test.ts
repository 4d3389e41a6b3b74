// Property tests: the trie and the tree agree with the naive reference matcher, add/remove
// sequences agree with a plain Map model, and the validators agree with a split-based
// reading of the rules. Levels come from a small alphabet so that collisions, empty levels,
// `$` topics and wildcard positions all occur often.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SubscriptionTrie, TopicTree, isValidTopicFilter, isValidTopicName, topicMatches } from '../src/index.ts';

const topicLevel = fc.constantFrom('', 'a', 'b', '$SYS', '$');
const topicName = fc
  .array(topicLevel, { minLength: 1, maxLength: 4 })
  .map((levels) => levels.join('/'))
  .filter((topic) => topic.length > 0);

const filterLevel = fc.constantFrom('', 'a', 'b', '$SYS', '+', '+');
const topicFilter = fc
  .tuple(fc.array(filterLevel, { maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((filter) => filter.length > 0);

const key = fc.constantFrom('x', 'y', 'z');

test('generated topics and filters are valid, so the properties test what the broker stores', () => {
  fc.assert(fc.property(topicName, topicFilter, (topic, filter) => isValidTopicName(topic) && isValidTopicFilter(filter)));
});

test('[MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1] SubscriptionTrie.match agrees with topicMatches', () => {
  const subscriptions = fc.array(fc.tuple(topicFilter, key, fc.integer()), { maxLength: 25 });
  fc.assert(
    fc.property(subscriptions, fc.array(topicName, { minLength: 1, maxLength: 8 }), (subs, topics) => {
      const trie = new SubscriptionTrie<number>();
      const model = new Map<string, number>(); // `${filter} ${key}` -> value, last write wins
      for (const [filter, k, value] of subs) {
        trie.add(filter, k, value);
        model.set(`${filter} ${k}`, value);
      }
      for (const topic of topics) {
        const visited: string[] = [];
        trie.match(topic, (k, value, filter) => visited.push(`${filter} ${k}=${value}`));
        const expected: string[] = [];
        for (const [entry, value] of model) {
          if (topicMatches(entry.slice(0, entry.lastIndexOf(' ')), topic)) expected.push(`${entry}=${value}`);
        }
        assert.deepEqual(visited.sort(), expected.sort(), topic);
      }
    }),
    { numRuns: 500 },
  );
});

test('[MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1] TopicTree.match agrees with topicMatches', () => {
  fc.assert(
    fc.property(fc.uniqueArray(topicName, { maxLength: 25 }), fc.array(topicFilter, { minLength: 1, maxLength: 8 }), (topics, filters) => {
      const tree = new TopicTree<string>();
      for (const topic of topics) tree.set(topic, topic.toUpperCase());
      for (const filter of filters) {
        const visited: string[] = [];
        tree.match(filter, (topic, value) => {
          assert.equal(value, topic.toUpperCase());
          visited.push(topic);
        });
        const expected = topics.filter((topic) => topicMatches(filter, topic));
        assert.deepEqual(visited.sort(), expected.sort(), filter);
      }
    }),
    { numRuns: 500 },
  );
});

test('every valid topic name, used as a filter, matches itself and only itself', () => {
  fc.assert(
    fc.property(topicName, fc.uniqueArray(topicName, { maxLength: 10 }), (name, others) => {
      const trie = new SubscriptionTrie<number>();
      trie.add(name, 'k', 1);
      const tree = new TopicTree<number>();
      for (const topic of [name, ...others]) tree.set(topic, 1);
      for (const topic of [name, ...others]) {
        let hits = 0;
        trie.match(topic, () => hits++);
        assert.equal(hits, topic === name ? 1 : 0);
      }
      const found: string[] = [];
      tree.match(name, (topic) => found.push(topic));
      assert.deepEqual(found, [name]);
    }),
  );
});

type TrieCommand = { add: boolean; filter: string; key: string; value: number };

test('add/remove sequences leave SubscriptionTrie equal to a Map model, and empty after removing all', () => {
  const command = fc.record({ add: fc.boolean(), filter: topicFilter, key, value: fc.integer() });
  fc.assert(
    fc.property(fc.array(command, { maxLength: 60 }), (commands: TrieCommand[]) => {
      const trie = new SubscriptionTrie<number>();
      const model = new Map<string, Map<string, number>>();
      for (const { add, filter, key: k, value } of commands) {
        const entries = model.get(filter);
        if (add) {
          assert.equal(trie.add(filter, k, value), entries === undefined, `add ${filter} ${k}`);
          if (entries) entries.set(k, value);
          else model.set(filter, new Map([[k, value]]));
        } else {
          const removesLast = entries !== undefined && entries.has(k) && entries.size === 1;
          assert.equal(trie.remove(filter, k), removesLast, `remove ${filter} ${k}`);
          entries?.delete(k);
          if (entries?.size === 0) model.delete(filter);
        }
        assertTrieEquals(trie, model);
      }
      for (const [filter, entries] of model) {
        const keys = [...entries.keys()];
        keys.forEach((k, i) => assert.equal(trie.remove(filter, k), i === keys.length - 1));
      }
      assert.equal(trie.size, 0);
      assert.equal(trie.filterCount, 0);
      assert.equal(trie.nodeCount, 0);
    }),
    { numRuns: 300 },
  );
});

function assertTrieEquals(trie: SubscriptionTrie<number>, model: Map<string, Map<string, number>>): void {
  let size = 0;
  for (const [filter, entries] of model) {
    size += entries.size;
    assert.equal(trie.hasFilter(filter), true);
    assert.deepEqual(new Map(trie.entries(filter)), entries);
    for (const [k, value] of entries) assert.equal(trie.get(filter, k), value);
  }
  assert.equal(trie.size, size);
  assert.equal(trie.filterCount, model.size);
}

test('set/delete sequences leave TopicTree equal to a Map model, and empty after deleting all', () => {
  const command = fc.record({ set: fc.boolean(), topic: topicName, value: fc.integer() });
  fc.assert(
    fc.property(fc.array(command, { maxLength: 60 }), (commands) => {
      const tree = new TopicTree<number>();
      const model = new Map<string, number>();
      for (const { set, topic, value } of commands) {
        if (set) {
          tree.set(topic, value);
          model.set(topic, value);
        } else {
          assert.equal(tree.delete(topic), model.delete(topic));
        }
        assert.equal(tree.size, model.size);
        assert.equal(tree.get(topic), model.get(topic));
      }
      const all: Array<[string, number]> = [];
      tree.match('#', (topic, value) => all.push([topic, value]));
      for (const topic of model.keys()) if (topic.startsWith('$')) all.push([topic, tree.get(topic)!]);
      assert.deepEqual(new Map(all), model);
      for (const topic of model.keys()) assert.equal(tree.delete(topic), true);
      assert.equal(tree.size, 0);
      assert.equal(tree.nodeCount, 0);
    }),
    { numRuns: 300 },
  );
});

// A split-based reading of the validation rules, to check the one-pass validators against.
const MAX_BYTES = 65535;

function wellEncoded(s: string): boolean {
  return s.length > 0 && s.isWellFormed() && !s.includes('\u0000') && !s.includes('\uFFFD') && Buffer.byteLength(s) <= MAX_BYTES;
}

function referencePlainFilter(filter: string): boolean {
  const levels = filter.split('/');
  return levels.every((level, i) => {
    if (level === '+') return true;
    if (level === '#') return i === levels.length - 1;
    return !level.includes('+') && !level.includes('#');
  });
}

function referenceFilter(filter: string): boolean {
  if (!wellEncoded(filter)) return false;
  const levels = filter.split('/');
  if (levels[0] !== '$share') return referencePlainFilter(filter);
  const group = levels[1] ?? '';
  const inner = levels.slice(2).join('/');
  return levels.length >= 3 && group.length > 0 && !/[+#]/.test(group) && inner.length > 0 && referencePlainFilter(inner);
}

function referenceName(name: string): boolean {
  return wellEncoded(name) && !name.includes('+') && !name.includes('#');
}

const fragment = fc.constantFrom('a', '/', '/', '+', '#', '$', '$share', '$share/', '$SYS', '\u0000', '\uFFFD', 'é', '😀', '\uD800', '\uDC00');
const candidate = fc.array(fragment, { maxLength: 8 }).map((parts) => parts.join(''));

test('[MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.8.2-1] [MQTT-4.8.2-2] isValidTopicFilter agrees with a split-based reference', () => {
  fc.assert(
    fc.property(candidate, (filter) => assert.equal(isValidTopicFilter(filter), referenceFilter(filter), JSON.stringify(filter))),
    { numRuns: 3000 },
  );
});

test('[MQTT-4.7.1-1] [MQTT-4.7.3-2] [MQTT-1.5.4-1] isValidTopicName agrees with a reference', () => {
  fc.assert(
    fc.property(candidate, (name) => assert.equal(isValidTopicName(name), referenceName(name), JSON.stringify(name))),
    { numRuns: 3000 },
  );
});
