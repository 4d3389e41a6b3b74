// Which late forwards a node asks its sender to route again, without sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@roost/protocol';
import { MovedSessions } from '../src/moved-sessions.ts';

const message = (topic: string, qos: 0 | 1 | 2 = 1): Message => ({ topic, payload: Buffer.from('x'), qos, retain: false });

test('a QoS 1/2 message matching a direct filter of a session that left, routed before it left, is to be routed again', () => {
  let now = 1_000_000;
  const moved = new MovedSessions(() => now);
  assert.equal(moved.routedFor(message('a/b')), false, 'nothing left: nothing to route again');
  moved.add('c1', ['a/+', '$share/g/z/#']);
  assert.equal(moved.routedFor(message('a/b'), now - 5_000), true);
  assert.equal(moved.routedFor(message('a/b')), true, 'no routing time from an older sender: any release counts');
  assert.equal(moved.routedFor(message('a/b', 0)), false, 'QoS 0 is not routed again');
  assert.equal(moved.routedFor(message('b/c'), now), false, 'another topic');
  assert.equal(moved.routedFor(message('z/1'), now), false, 'shared members are declined by their node instead');
  assert.equal(moved.routedFor(message('a/b'), now + 1_000), true, 'within the clock margin');
  assert.equal(moved.routedFor(message('a/b'), now + 1_001), false, 'routed after the move: the new node has its own copy');
  now += 30_001;
  assert.equal(moved.routedFor(message('a/b'), 0), false, 'forgotten after 30 s');
});

test('a session held here again is no longer one that left', () => {
  const moved = new MovedSessions(() => 0);
  moved.add('c1', ['a/#']);
  moved.forget('c1');
  assert.equal(moved.routedFor(message('a/b')), false);
});
