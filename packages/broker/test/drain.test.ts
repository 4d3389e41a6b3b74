// The drain's pacing (ROOST_DRAIN_RATE): how many clients are due when, and that pace()
// releases them in rate-sized batches, all at once at rate 0 or once hurried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dueBy, pace } from '../src/drain.ts';

test('dueBy: the first client at once, then rate per second; rate 0 is all at once', () => {
  assert.equal(dueBy(0, 10), 1);
  assert.equal(dueBy(99, 10), 1);
  assert.equal(dueBy(100, 10), 2);
  assert.equal(dueBy(1_000, 10), 11);
  assert.equal(dueBy(2_500, 500), 1_251);
  assert.equal(dueBy(0, 0), Infinity);
});

/** A drain of `clients` on a clock the test moves: each round of pace() advances it by `stepMs`. */
async function simulate(clients: number, ratePerSecond: number, stepMs: number, hurryAfter?: number) {
  let now = 0;
  let left = clients;
  const rounds: Array<{ at: number; released: number }> = [];
  const hurry = new AbortController();
  await pace(
    (count) => {
      const released = Math.min(count, left);
      left -= released;
      rounds.push({ at: now, released });
      now += stepMs;
      if (hurryAfter !== undefined && rounds.length === hurryAfter) hurry.abort();
      return released;
    },
    () => left,
    { ratePerSecond, hurry: hurry.signal },
    () => now,
  );
  return rounds;
}

test('pace: at 100/s, 250 clients go over 2.5 s in batches of about 10, never ahead of the rate', async () => {
  const rounds = await simulate(250, 100, 100);
  let total = 0;
  for (const { at, released } of rounds) {
    total += released;
    assert.ok(total <= dueBy(at, 100), `${total} released by ${at} ms, more than the rate allows`);
  }
  assert.equal(total, 250);
  assert.ok(rounds.at(-1)!.at >= 2_400, `the last one went at ${rounds.at(-1)!.at} ms`);
  assert.ok(rounds.length >= 25, `${rounds.length} rounds`);
});

test('pace: rate 0 releases every client in one round', async () => {
  const rounds = await simulate(1_000, 0, 100);
  assert.deepEqual(rounds, [{ at: 0, released: 1_000 }]);
});

test('pace: hurried, whoever is left goes in the next round', async () => {
  const rounds = await simulate(1_000, 10, 100, 3);
  assert.equal(rounds.length, 4);
  assert.equal(rounds[3]!.released, 1_000 - rounds.slice(0, 3).reduce((n, r) => n + r.released, 0));
});
