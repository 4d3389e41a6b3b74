// Two (or three) real transports talking gRPC over 127.0.0.1.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerUnavailableError, type Message } from '@roost/protocol';
import { freePort, message, startTransport, stopAll } from './harness.ts';

afterEach(stopAll);

test('batches arrive in order, from the sending node, and each forward resolves on its ack', async () => {
  const a = await startTransport('a', { maxBatchMessages: 100, maxInFlightBatches: 2 });
  const b = await startTransport('b');
  const peer = { nodeId: 'b', address: b.address };

  const sent = Array.from({ length: 1000 }, (_, i) => message(`t/${i}`));
  await Promise.all(sent.map((m) => a.transport.forward(peer, m)));

  assert.deepEqual(b.handlers.messages().map((m) => m.topic), sent.map((m) => m.topic));
  assert.ok(b.handlers.batches.every((batch) => batch.fromNode === 'a' && batch.messages.length <= 100));
  assert.ok(b.handlers.batches.length >= 10);
  assert.ok(b.handlers.maxActive <= 2, `at most 2 batches in flight, saw ${b.handlers.maxActive}`);
  assert.equal(a.transport.stats.forwardedMessages, 1000);
  assert.equal(a.transport.stats.forwardedBatches, b.handlers.batches.length);
});

test('acks go back in batch order even when a later batch is handled first', async () => {
  const a = await startTransport('a', { maxBatchMessages: 1 });
  const b = await startTransport('b');
  const first = Promise.withResolvers<void>();
  b.handlers.onBatch = (_batch, index) => (index === 0 ? first.promise : Promise.resolve());
  const peer = { nodeId: 'b', address: b.address };

  const resolved: number[] = [];
  const sends = [0, 1, 2].map((i) => a.transport.forward(peer, message(`t/${i}`)).then(() => resolved.push(i)));
  await b.handlers.waitForBatches(3); // all three handed over while the first is still held
  await a.transport.takeover(peer, 'c', 1); // a round trip: acks of 1 and 2 would be back by now
  assert.deepEqual(resolved, []);
  first.resolve();
  await Promise.all(sends);

  assert.deepEqual(resolved, [0, 1, 2]);
});

test('the window holds further batches until the peer acks', async () => {
  const a = await startTransport('a', { maxBatchMessages: 1, maxInFlightBatches: 1 });
  const b = await startTransport('b');
  const first = Promise.withResolvers<void>();
  b.handlers.onBatch = (_batch, index) => (index === 0 ? first.promise : Promise.resolve());
  const peer = { nodeId: 'b', address: b.address };

  const sends = [0, 1, 2].map((i) => a.transport.forward(peer, message(`t/${i}`)));
  await b.handlers.waitForBatches(1);
  await a.transport.takeover(peer, 'c', 1); // a round trip on the same connection, after the flush
  assert.equal(b.handlers.batches.length, 1);
  first.resolve();
  await Promise.all(sends);

  assert.equal(b.handlers.batches.length, 3);
  assert.equal(b.handlers.maxActive, 1);
});

test('properties, user properties with repeated names, correlation data and expiry cross the wire', async () => {
  const a = await startTransport('a');
  const b = await startTransport('b');
  const full: Message = {
    topic: 'req/1',
    payload: Buffer.from([0, 1, 2, 255]),
    qos: 2,
    retain: true,
    properties: {
      payloadFormatIndicator: true,
      contentType: 'text/plain',
      responseTopic: 'res/1',
      correlationData: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      userProperties: { trace: ['a', 'b', 'a'], region: 'eu' },
    },
    expiresAt: Date.now() + 60_000,
    origin: 'publisher-1',
  };
  const bare = message('bare');

  await Promise.all([full, bare].map((m) => a.transport.forward({ nodeId: 'b', address: b.address }, m)));

  assert.deepEqual(b.handlers.messages(), [full, bare]);
});

test('a batch the peer cannot take rejects its forwards, and the stream goes on', async () => {
  const a = await startTransport('a');
  const b = await startTransport('b');
  b.handlers.onBatch = async (_batch, index) => {
    if (index === 0) throw new Error('disk full');
  };
  const peer = { nodeId: 'b', address: b.address };

  await assert.rejects(a.transport.forward(peer, message('t/0')), (error: Error) => {
    assert.ok(error instanceof PeerUnavailableError);
    assert.equal(error.nodeId, 'b');
    assert.match(error.message, /disk full/);
    return true;
  });
  await a.transport.forward(peer, message('t/1'));

  assert.equal(a.transport.stats.rejectedMessages, 1);
  assert.equal(a.transport.stats.forwardedMessages, 1);
});

test('takeover and shared dispatch round trips, with handler failures as PeerUnavailableError', async () => {
  const a = await startTransport('a');
  const b = await startTransport('b');
  const peer = { nodeId: 'b', address: b.address };
  const shared: Message = { ...message('jobs/1'), properties: { userProperties: { k: ['1', '2'] } } };

  assert.deepEqual(await a.transport.takeover(peer, 'client-1', 7), { released: true, superseded: false });
  assert.deepEqual(await a.transport.takeover(peer, 'unknown', 8), { released: false, superseded: false });
  assert.deepEqual(await a.transport.takeover(peer, 'claimed-later', 8), { released: false, superseded: true }, 'a racing CONNECT that lost hears so');
  assert.deepEqual(b.handlers.takeovers, [{ clientId: 'client-1', epoch: 7 }, { clientId: 'unknown', epoch: 8 }, { clientId: 'claimed-later', epoch: 8 }]);
  assert.equal(await a.transport.dispatchShared(peer, 'workers', 'jobs/+', shared), true);
  assert.equal(await a.transport.dispatchShared(peer, 'empty', 'jobs/+', shared, { onlineOnly: true }), false);
  assert.equal(await a.transport.dispatchShared(peer, 'workers', 'jobs/+', shared, { member: 'm1' }), true);
  assert.deepEqual(b.handlers.shared[0], { group: 'workers', filter: 'jobs/+', message: shared, onlineOnly: false, member: undefined });
  assert.equal(b.handlers.shared[1]?.onlineOnly, true);
  assert.equal(b.handlers.shared[2]?.member, 'm1');

  await assert.rejects(a.transport.takeover(peer, 'explodes', 9), PeerUnavailableError);
  await assert.rejects(a.transport.dispatchShared(peer, 'explodes', 'jobs/+', shared), /no such group/);
  // The handler failures were answered, not thrown: the server still serves.
  assert.deepEqual(await a.transport.takeover(peer, 'client-2', 10), { released: true, superseded: false });
});

test('awaitRoutes carries the version and the peer\'s bound, and its answer', async () => {
  const a = await startTransport('a');
  const b = await startTransport('b');
  const peer = { nodeId: 'b', address: b.address };
  b.handlers.appliedVersion = 5;
  assert.equal(await a.transport.awaitRoutes(peer, 5, 250), true);
  assert.equal(await a.transport.awaitRoutes(peer, 6, 250), false);
  assert.deepEqual(b.handlers.routeWaits, [{ version: 5, timeoutMs: 250 }, { version: 6, timeoutMs: 250 }]);
});

test('a rerouted copy keeps the time of its first routing and the take-on count it is compared with across the wire', async () => {
  const a = await startTransport('a');
  const b = await startTransport('b');
  await a.transport.forward({ nodeId: 'b', address: b.address }, { ...message('t/r'), reroutedSince: 1_700_000_000_123, takenOnAfter: 41 });
  await a.transport.forward({ nodeId: 'b', address: b.address }, { ...message('t/s'), reroutedSince: 1_700_000_000_124 });
  const [marked, timed] = b.handlers.messages();
  assert.equal(marked?.reroutedSince, 1_700_000_000_123);
  assert.equal(marked?.takenOnAfter, 41);
  assert.equal(timed?.takenOnAfter, undefined, 'absent stays absent (a sender that predates the count)');
});

test('a batch says when its oldest message was handed to the link, and the peer\'s ack names the messages to route again and its take-on count', async () => {
  const a = await startTransport('a');
  const b = await startTransport('b');
  b.handlers.onBatch = async (batch) => batch.messages.flatMap((m, i) => (m.topic.endsWith('/moved') ? [i] : []));
  b.handlers.takeOns = 17;
  const peer = { nodeId: 'b', address: b.address };
  const before = Date.now();
  const answers = await Promise.all(['t/1', 't/2/moved', 't/3', 't/4/moved'].map((topic) => a.transport.forward(peer, message(topic))));
  assert.deepEqual(answers, [false, true, false, true].map((again) => ({ again, takeOns: 17 })));
  const routedAt = b.handlers.batches[0]!.routedAt!;
  assert.ok(routedAt >= before && routedAt <= Date.now(), `routedAt ${routedAt} within the test's own clock`);
});

test('an unreachable peer fails forwards and calls with PeerUnavailableError within the retry budget', async () => {
  const a = await startTransport('a', { retryTimeoutMs: 300, callTimeoutMs: 300 });
  const peer = { nodeId: 'gone', address: `127.0.0.1:${await freePort()}` };

  const started = Date.now();
  const results = await Promise.allSettled([a.transport.forward(peer, message('t/0')), a.transport.forward(peer, message('t/1'))]);
  const elapsed = Date.now() - started;

  for (const result of results) {
    assert.equal(result.status, 'rejected');
    assert.ok(result.reason instanceof PeerUnavailableError);
  }
  assert.ok(elapsed >= 250 && elapsed < 2_000, `failed after ${elapsed} ms`);
  assert.ok(a.transport.stats.retries >= 1);
  assert.equal(a.transport.stats.droppedMessages, 2);
  await assert.rejects(a.transport.takeover(peer, 'c', 1), PeerUnavailableError);
  await assert.rejects(a.transport.dispatchShared(peer, 'g', 'f', message('t')), PeerUnavailableError);
});

test('a full buffer refuses at once; dropPeer fails what waited and frees it', async () => {
  const a = await startTransport('a', { maxBufferedMessages: 3, retryTimeoutMs: 60_000 });
  const peer = { nodeId: 'gone', address: `127.0.0.1:${await freePort()}` };

  const waiting = [0, 1, 2].map((i) => a.transport.forward(peer, message(`t/${i}`)));
  await assert.rejects(a.transport.forward(peer, message('t/3')), /buffer full/);
  assert.equal(a.transport.stats.droppedMessages, 1);

  a.transport.dropPeer('gone');
  for (const result of await Promise.allSettled(waiting)) {
    assert.equal(result.status, 'rejected');
    assert.ok(result.reason instanceof PeerUnavailableError);
    assert.match(result.reason.message, /peer dropped/);
  }
  assert.equal(a.transport.stats.droppedMessages, 4);
});

test('dropPeer fails forwards the peer has not acked', async () => {
  const a = await startTransport('a');
  const b = await startTransport('b');
  const held = Promise.withResolvers<void>();
  b.handlers.onBatch = () => held.promise;

  const pending = a.transport.forward({ nodeId: 'b', address: b.address }, message('t/0'));
  await b.handlers.waitForBatches(1);
  a.transport.dropPeer('b');

  await assert.rejects(pending, PeerUnavailableError);
  held.resolve();
});

test('a restarted peer gets the unacked batches again, then new ones', async () => {
  const a = await startTransport('a', { retryTimeoutMs: 10_000 });
  const b1 = await startTransport('b');
  const held = Promise.withResolvers<void>();
  b1.handlers.onBatch = () => held.promise; // takes the batch, never acks it
  const peer = { nodeId: 'b', address: b1.address };

  const first = a.transport.forward(peer, message('t/0'));
  await b1.handlers.waitForBatches(1);
  await b1.transport.stop(); // drain times out on the held batch, streams are cut
  held.resolve();
  const port = Number(b1.address.split(':')[1]);
  const b2 = await startTransport('b', { port });

  await first;
  await a.transport.forward(peer, message('t/1'));

  assert.deepEqual(b2.handlers.messages().map((m) => m.topic), ['t/0', 't/1']);
  assert.ok(a.transport.stats.retries >= 1);
});

test('a peer at a new address gets a new channel and what the old one had not delivered', async () => {
  const a = await startTransport('a', { retryTimeoutMs: 10_000 });
  const b = await startTransport('b');
  const old = { nodeId: 'b', address: `127.0.0.1:${await freePort()}` };

  const stranded = a.transport.forward(old, message('t/0'));
  await a.transport.forward({ nodeId: 'b', address: b.address }, message('t/1'));
  await stranded;

  assert.deepEqual(b.handlers.messages().map((m) => m.topic), ['t/0', 't/1']);
});

test('a graceful stop acks what the peer took before ending the streams', async () => {
  const a = await startTransport('a');
  const b = await startTransport('b', { drainTimeoutMs: 5_000 });
  const held = Promise.withResolvers<void>();
  b.handlers.onBatch = () => held.promise;

  const pending = a.transport.forward({ nodeId: 'b', address: b.address }, message('t/0'));
  await b.handlers.waitForBatches(1);
  const stopped = b.transport.stop();
  held.resolve();
  await Promise.all([pending, stopped]);

  assert.equal(a.transport.stats.forwardedMessages, 1);
});

test('post sends in order with forwards, without waiting; past a full buffer it only counts the drop', async () => {
  const a = await startTransport('a');
  const b = await startTransport('b');
  const peer = { nodeId: 'b', address: b.address };
  a.transport.post(peer, message('t/0'));
  a.transport.post(peer, message('t/1'));
  await a.transport.forward(peer, message('t/2')); // acked in batch order: the posts are in by now
  assert.deepEqual(b.handlers.messages().map((m) => m.topic), ['t/0', 't/1', 't/2']);

  const c = await startTransport('c', { maxBufferedMessages: 1, retryTimeoutMs: 60_000 });
  const gone = { nodeId: 'gone', address: `127.0.0.1:${await freePort()}` };
  c.transport.post(gone, message('t/0'));
  c.transport.post(gone, message('t/1'));
  assert.equal(c.transport.stats.droppedMessages, 1);
  c.transport.dropPeer('gone');
});
