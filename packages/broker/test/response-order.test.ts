// The one order a connection's owed work goes out in, without sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseOrder } from '../src/response-order.ts';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('[MQTT-4.6.0-2] responses go out in order, each after the durability it waits for, however those settle', async () => {
  const order = new ResponseOrder(() => assert.fail('nothing fails'));
  const sent: string[] = [];
  const first = deferred();
  const second = deferred();
  order.awaitDurable(first.promise);
  order.then(() => sent.push('ack 1'));
  order.awaitDurable(second.promise);
  order.then(() => sent.push('ack 2'));
  second.resolve(); // the later message is durable first
  await settle();
  assert.deepEqual(sent, []);
  assert.equal(order.holdsPackets, false, 'durability waits hold responses, not packets');
  first.resolve();
  await settle();
  assert.deepEqual(sent, ['ack 1', 'ack 2']);
  assert.equal(order.idle, true);
});

test('a barrier holds back the packets behind it until it settles; a durability wait that fails goes to the failure handler', async () => {
  const failures: unknown[] = [];
  const order = new ResponseOrder((error) => failures.push(error));
  const attached = deferred();
  order.holdPackets(attached.promise);
  order.awaitDurable(attached.promise);
  assert.equal(order.holdsPackets, true);
  const handled: string[] = [];
  order.then(() => handled.push('SUBSCRIBE'));
  await settle();
  assert.deepEqual(handled, []);
  attached.resolve();
  await settle();
  assert.deepEqual(handled, ['SUBSCRIBE']);
  assert.equal(order.holdsPackets, false);
  const lost = deferred();
  order.awaitDurable(lost.promise);
  lost.reject(new Error('store down'));
  await settle();
  assert.equal((failures[0] as Error).message, 'store down');
});
