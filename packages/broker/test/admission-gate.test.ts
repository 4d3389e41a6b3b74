import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdmissionGate, type AdmissionSlot } from '../src/admission-gate.ts';

const now = (entered: AdmissionSlot | Promise<AdmissionSlot>): AdmissionSlot => {
  assert.ok(!(entered instanceof Promise), 'a slot was free');
  return entered;
};

test('AdmissionGate admits up to its limit at once without a promise, then queues', () => {
  const gate = new AdmissionGate(2);
  now(gate.enter());
  now(gate.enter());
  assert.ok(gate.enter() instanceof Promise);
  assert.equal(gate.queued, 1);
});

test('AdmissionGate hands a released slot to the longest waiting caller, in arrival order', async () => {
  const gate = new AdmissionGate(1);
  const first = now(gate.enter());
  const order: number[] = [];
  const waits = [1, 2, 3].map((n) => (gate.enter() as Promise<AdmissionSlot>).then((slot) => (order.push(n), slot)));
  first.release();
  const second = await waits[0]!;
  assert.deepEqual(order, [1]);
  second.release();
  (await waits[1]!).release();
  await Promise.all(waits);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(gate.queued, 0);
});

test('AdmissionGate: a slot released twice frees one place, not two', () => {
  const gate = new AdmissionGate(1);
  const slot = now(gate.enter());
  const waiting = gate.enter();
  slot.release();
  slot.release();
  assert.ok(gate.enter() instanceof Promise, 'the one place went to the waiting caller');
  assert.ok(waiting instanceof Promise);
});

test('AdmissionGate frees the place when no one waits: the next caller enters at once', () => {
  const gate = new AdmissionGate(1);
  now(gate.enter()).release();
  now(gate.enter());
});
