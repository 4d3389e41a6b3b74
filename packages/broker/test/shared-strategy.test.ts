import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@roost/protocol';
import { SharedNodeChooser } from '../src/shared-strategy.ts';

const nodes = new Set(['c', 'a', 'b']);
const message = (topic: string, origin?: string): Message => ({ topic, payload: Buffer.alloc(0), qos: 1, retain: false, origin });

function firsts(chooser: SharedNodeChooser, count: number, make: (i: number) => Message, group = 'g'): string[] {
  return Array.from({ length: count }, (_, i) => chooser.order(group, 'f', nodes, make(i))[0]!);
}

test('every order lists each node once, so a refused message can fall through to all of them', () => {
  for (const strategy of ['round_robin', 'random', 'hash_clientid', 'hash_topic', 'local'] as const) {
    const order = new SharedNodeChooser(strategy, 'b').order('g', 'f', nodes, message('t', 'x'));
    assert.deepEqual([...order].sort(), ['a', 'b', 'c'], strategy);
  }
});

test('round_robin starts at each node in turn, per group', () => {
  const chooser = new SharedNodeChooser('round_robin', 'a');
  assert.deepEqual(firsts(chooser, 6, () => message('t')), ['a', 'b', 'c', 'a', 'b', 'c']);
  assert.equal(chooser.order('other', 'f', nodes, message('t'))[0], 'a', 'another group has its own cursor');
});

test('local prefers this node when it has members, else goes round robin', () => {
  const chooser = new SharedNodeChooser('local', 'b');
  assert.deepEqual(firsts(chooser, 3, () => message('t')), ['b', 'b', 'b']);
  const elsewhere = new SharedNodeChooser('local', 'z');
  assert.deepEqual(firsts(elsewhere, 3, () => message('t')), ['a', 'b', 'c']);
});

test('hash_topic sends one topic to one node, and spreads topics', () => {
  const chooser = new SharedNodeChooser('hash_topic', 'a');
  for (const topic of ['x', 'y', 'z/1']) assert.equal(new Set(firsts(chooser, 5, () => message(topic))).size, 1, topic);
  assert.ok(new Set(firsts(chooser, 60, (i) => message(`t/${i}`))).size > 1);
});

test('hash_clientid sends one publisher to one node, on every node alike', () => {
  const here = new SharedNodeChooser('hash_clientid', 'a');
  const there = new SharedNodeChooser('hash_clientid', 'c');
  for (const origin of ['p1', 'p2', 'p3']) {
    const picks = firsts(here, 5, (i) => message(`t/${i}`, origin));
    assert.equal(new Set(picks).size, 1, origin);
    assert.equal(there.order('g', 'f', nodes, message('t', origin))[0], picks[0], 'the hash does not depend on the node');
  }
});

test('a per-group strategy overrides the default for that share name only', () => {
  const chooser = new SharedNodeChooser('round_robin', 'b', new Map([['pinned', 'local' as const]]));
  assert.deepEqual(firsts(chooser, 3, () => message('t'), 'pinned'), ['b', 'b', 'b']);
  assert.deepEqual(firsts(chooser, 3, () => message('t'), 'g'), ['a', 'b', 'c']);
});
