import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fifo, RECENT_IDS_KEPT, RECENT_IDS_MS, Session, type Delivery } from '@roost/session';

function delivery(n: number, shared: boolean): Delivery {
  const d: Delivery = { message: { topic: `t/${n}`, payload: Buffer.from(String(n)), qos: 1, retain: false }, qos: 1, retain: false };
  if (shared) d.shared = { group: 'g', filter: 't/+' };
  return d;
}

test('unreceivedShared: shared deliveries queued or awaiting PUBACK, not QoS 2 ones once sent (MQTT 5 4.8.2)', () => {
  const session = new Session('c', 60);
  const [sent, released, direct, queued] = [delivery(1, true), delivery(2, true), delivery(3, false), delivery(4, true)];
  const sentQos2: Delivery = { ...delivery(5, true), qos: 2 };
  const queuedQos2: Delivery = { ...delivery(6, true), qos: 2 };
  session.inflight.set(1, { delivery: sent, phase: 'publish' });
  session.inflight.set(2, { delivery: released, phase: 'pubrel' });
  session.inflight.set(3, { delivery: direct, phase: 'publish' });
  session.inflight.set(5, { delivery: sentQos2, phase: 'publish' });
  session.queue.push(queued);
  session.queue.push(queuedQos2);
  assert.deepEqual(session.unreceivedShared(), [sent, queued, queuedQos2]);
});

test('forget removes exactly the given deliveries and keeps the queue order of the rest', () => {
  const session = new Session('c', 60);
  const ds = [1, 2, 3, 4].map((n) => delivery(n, true));
  session.inflight.set(1, { delivery: ds[0]!, phase: 'publish' });
  for (const d of ds.slice(1)) session.queue.push(d);
  session.forget(new Set([ds[0]!, ds[2]!]));
  assert.equal(session.inflight.size, 0);
  assert.deepEqual([...session.queue], [ds[1], ds[3]]);
});

test('forget, one delivery at a time from the head (a hand-back), keeps the rest in order', () => {
  const session = new Session('c', 60);
  const ds = [1, 2, 3, 4, 5].map((n) => delivery(n, n % 2 === 1));
  for (const d of ds) session.queue.push(d);
  session.forget(new Set([ds[0]!]));
  session.forget(new Set([ds[2]!])); // not at the head: the general path
  session.forget(new Set([ds[1]!, ds[3]!]));
  assert.deepEqual([...session.queue], [ds[4]]);
});

test('firstSight: true once per message id, remembering at most RECENT_IDS_KEPT ids for RECENT_IDS_MS', () => {
  const session = new Session('c', 60);
  assert.equal(session.firstSight('a', 0), true);
  assert.equal(session.firstSight('a', 1), false);
  for (let i = 0; i < RECENT_IDS_KEPT; i++) session.firstSight(`n${i}`, 2);
  assert.equal(session.recentMessageIds.length, RECENT_IDS_KEPT);
  assert.equal(session.firstSight('a', 3), true); // forgotten: the window is bounded
  assert.equal(session.firstSight(`n${RECENT_IDS_KEPT - 1}`, 4), false);
  // Past RECENT_IDS_MS an id is forgotten however few came since.
  const quiet = new Session('q', 60);
  quiet.firstSight('old', 0);
  quiet.firstSight('new', RECENT_IDS_MS - 1);
  assert.equal(quiet.firstSight('old', RECENT_IDS_MS - 1), false);
  quiet.firstSight('later', RECENT_IDS_MS);
  assert.deepEqual(quiet.recentMessageIds, ['new', 'later']);
  assert.equal(quiet.firstSight('old', RECENT_IDS_MS), true);
});

test('takeFreshIds: what came since the last take, at most RECENT_IDS_KEPT', () => {
  const session = new Session('c', 60);
  session.firstSight('a');
  session.firstSight('b');
  assert.deepEqual(session.takeFreshIds(), ['a', 'b']);
  assert.deepEqual(session.takeFreshIds(), []);
  for (let i = 0; i < 3 * RECENT_IDS_KEPT; i++) session.firstSight(`n${i}`);
  const fresh = session.takeFreshIds();
  assert.equal(fresh.length, RECENT_IDS_KEPT);
  assert.equal(fresh.at(-1), `n${3 * RECENT_IDS_KEPT - 1}`);
});

test('Fifo.changes: items shifted from the head and pushed on the tail since mark(); undefined once new items were shifted too', () => {
  const fifo = new Fifo<number>();
  for (const n of [1, 2, 3]) fifo.push(n);
  fifo.mark();
  fifo.shift();
  fifo.push(4);
  assert.deepEqual(fifo.changes(), { length: 3, shifted: 1, pushed: [4] });
  for (let i = 0; i < 3; i++) fifo.shift();
  assert.equal(fifo.changes(), undefined);
  fifo.mark();
  assert.deepEqual(fifo.changes(), { length: 0, shifted: 0, pushed: [] });
});
