// QoS 2 sends held until their session write is durable, without sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Action } from '../src/actions.ts';
import { DurableSends } from '../src/durable-sends.ts';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const send = (n: number): Action[] => [{ type: 'send', packet: { cmd: 'publish', messageId: n } } as unknown as Action];

test('a send waits for its durability, and later sends wait for earlier ones whatever order durability settles in', async () => {
  const ran: number[] = [];
  const target = { run: (actions: Action[]) => ran.push((actions[0] as unknown as { packet: { messageId: number } }).packet.messageId) };
  const sends = new DurableSends();
  const [first, second] = [deferred(), deferred()];
  sends.after(target, send(1), first.promise);
  sends.after(target, send(2), second.promise);
  second.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(ran, [], 'nothing goes out before the first write is durable');
  first.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(ran, [1, 2]);
});

test('a failed write still sends (the keeper reports the failure), in order', async () => {
  const ran: number[] = [];
  const target = { run: (actions: Action[]) => ran.push((actions[0] as unknown as { packet: { messageId: number } }).packet.messageId) };
  const sends = new DurableSends();
  const failed = deferred();
  sends.after(target, send(1), failed.promise);
  sends.after(target, send(2), Promise.resolve());
  failed.reject(new Error('store unavailable'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(ran, [1, 2]);
});
