import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Distribution } from '../src/distribution.ts';

test('Distribution: a value equal to a bound counts in that bucket (Prometheus le is "less than or equal")', () => {
  const d = new Distribution([1, 5, 10]);
  for (const value of [0, 1, 1.5, 5, 10, 11, 1000]) d.observe(value);
  assert.deepEqual(d.counts, [2, 2, 1, 2]);
  assert.deepEqual(d.cumulative(), [2, 4, 5, 7], 'the last, +Inf, holds every observation');
  assert.equal(d.count, 7);
  assert.equal(d.sum, 0 + 1 + 1.5 + 5 + 10 + 11 + 1000);
});

test('Distribution: bounds that do not ascend are refused', () => {
  assert.throws(() => new Distribution([1, 1]), RangeError);
  assert.throws(() => new Distribution([5, 1]), RangeError);
});
