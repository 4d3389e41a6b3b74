import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LazyMap } from '../src/lazy-map.ts';

type Op = { op: 'set'; key: number; value: string } | { op: 'delete'; key: number } | { op: 'clear' };

const ops = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('set' as const), key: fc.integer({ min: 0, max: 7 }), value: fc.string({ maxLength: 2 }) }),
    fc.record({ op: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('clear' as const) }),
  ),
  { maxLength: 40 },
);

test('LazyMap answers every operation as a Map does, in the same iteration order', () => {
  fc.assert(
    fc.property(ops, (sequence: Op[]) => {
      const lazy = new LazyMap<number, string>();
      const map = new Map<number, string>();
      for (const step of sequence) {
        if (step.op === 'set') assert.equal(lazy.set(step.key, step.value), lazy), map.set(step.key, step.value);
        else if (step.op === 'delete') assert.equal(lazy.delete(step.key), map.delete(step.key));
        else lazy.clear(), map.clear();
        assert.equal(lazy.size, map.size);
        for (let key = 0; key < 8; key++) assert.equal(lazy.get(key), map.get(key)), assert.equal(lazy.has(key), map.has(key));
        assert.deepEqual([...lazy], [...map]);
        assert.deepEqual([...lazy.keys()], [...map.keys()]);
        assert.deepEqual([...lazy.values()], [...map.values()]);
        const seen: Array<[number, string]> = [];
        lazy.forEach((value, key, owner) => (assert.equal(owner, lazy), seen.push([key, value])));
        assert.deepEqual(seen, [...map.entries()]);
      }
    }),
  );
});

test('LazyMap before any set: empty, iterable, and deletes and clears are no-ops', () => {
  const lazy = new LazyMap<string, number>();
  assert.equal(lazy.size, 0);
  assert.deepEqual([...lazy], []);
  assert.equal(lazy.delete('a'), false);
  lazy.clear();
  assert.equal(lazy.get('a'), undefined);
  assert.equal(Object.prototype.toString.call(lazy), '[object Map]');
});

test('LazyMap: entries deleted or added during an iteration are handled as a Map handles them', () => {
  const lazy = new LazyMap<number, number>();
  for (let i = 0; i < 5; i++) lazy.set(i, i);
  const visited: number[] = [];
  for (const [key] of lazy) {
    visited.push(key);
    if (key === 0) lazy.delete(1), lazy.set(9, 9);
    if (key === 3) lazy.clear();
  }
  assert.deepEqual(visited, [0, 2, 3]);
  assert.equal(lazy.size, 0);
});
