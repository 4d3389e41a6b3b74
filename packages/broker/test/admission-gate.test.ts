import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdmissionGate } from '../src/admission-gate.ts';

test('AdmissionGate admits up to its limit at once without a promise, then queues', () => {
  const gate = new AdmissionGate(2);
  assert.equal(gate.enter(), undefined);
  assert.equal(gate.enter(), undefined);
  assert.ok(gate.enter() instanceof Promise);
  assert.equal(gate.queued, 1);
});

test('AdmissionGate hands a released slot to the longest waiting caller, in arrival order', async () => {
  const gate = new AdmissionGate(1);
  gate.enter();
  const order: number[] = [];
  const waits = [1, 2, 3].map((n) => gate.enter()!.then(() => order.push(n)));
  gate.release();
  await waits[0];
  assert.deepEqual(order, [1]);
  gate.release();
  gate.release();
  await Promise.all(waits);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(gate.queued, 0);
});

test('AdmissionGate frees the slot when no one waits: the next caller enters at once', () => {
  const gate = new AdmissionGate(1);
  gate.enter();
  gate.release();
  assert.equal(gate.enter(), undefined);
});
