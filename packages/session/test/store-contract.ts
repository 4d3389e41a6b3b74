// The behaviour every SessionStore and RetainedStore must show. The in-memory stores run it
// here; the Redis stores (cluster mode) run the same functions against a real Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@roost/protocol';
import { Session, type Delivery, type RetainedStore, type SessionStore } from '@roost/session';

function delivery(n: number): Delivery {
  return { message: { topic: `t/${n}`, payload: Buffer.from(String(n)), qos: 1, retain: false }, qos: 1, retain: false };
}

function retained(topic: string, payload = topic): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: true };
}

export function sessionStoreContract(name: string, makeStore: () => Promise<SessionStore>): void {
  test(`${name}: a stored session is found again with its subscriptions`, async () => {
    const store = await makeStore();
    const session = new Session('c1', 60);
    session.subscriptions.set('a/+', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 });
    await store.put(session);
    const found = await store.get('c1');
    assert.equal(found?.clientId, 'c1');
    assert.equal(found?.expiryInterval, 60);
    assert.deepEqual([...found!.subscriptions.keys()], ['a/+']);
    assert.equal(await store.get('other'), undefined);
  });

  test(`${name}: a deleted session is gone`, async () => {
    const store = await makeStore();
    await store.put(new Session('c1', 60));
    await store.delete('c1');
    assert.equal(await store.get('c1'), undefined);
    assert.equal(await store.count(), 0);
  });

  test(`${name}: queued deliveries keep their order`, async () => {
    const store = await makeStore();
    await store.put(new Session('c1', 60));
    for (const n of [1, 2, 3]) await store.enqueue('c1', delivery(n), { maxQueuedMessages: 10, queueOverflow: 'drop-oldest' });
    const session = await store.get('c1');
    assert.deepEqual([...session!.queue].map((d) => d.message.topic), ['t/1', 't/2', 't/3']);
  });

  test(`${name}: in-flight and queued deliveries keep their shared-subscription origin and subscription ids`, async () => {
    const store = await makeStore();
    const session = new Session('c1', 60);
    const shared = { group: 'g', filter: 'jobs/+' };
    session.inflight.set(7, { delivery: { ...delivery(1), shared, subscriptionIds: [3] }, phase: 'publish' });
    session.queue.push({ ...delivery(2), shared });
    await store.put(session);
    const found = (await store.get('c1'))!;
    assert.deepEqual(found.inflight.get(7)?.delivery.shared, shared);
    assert.deepEqual(found.inflight.get(7)?.delivery.subscriptionIds, [3]);
    assert.deepEqual([...found.queue][0]?.shared, shared);
  });

  test(`${name}: drop-oldest keeps the newest deliveries and reports the dropped one`, async () => {
    const store = await makeStore();
    await store.put(new Session('c1', 60));
    const limits = { maxQueuedMessages: 2, queueOverflow: 'drop-oldest' as const };
    await store.enqueue('c1', delivery(1), limits);
    await store.enqueue('c1', delivery(2), limits);
    const dropped = await store.enqueue('c1', delivery(3), limits);
    assert.equal(dropped?.message.topic, 't/1');
    assert.deepEqual([...(await store.get('c1'))!.queue].map((d) => d.message.topic), ['t/2', 't/3']);
  });

  test(`${name}: drop-newest refuses the delivery that does not fit`, async () => {
    const store = await makeStore();
    await store.put(new Session('c1', 60));
    const limits = { maxQueuedMessages: 1, queueOverflow: 'drop-newest' as const };
    await store.enqueue('c1', delivery(1), limits);
    const dropped = await store.enqueue('c1', delivery(2), limits);
    assert.equal(dropped?.message.topic, 't/2');
    assert.deepEqual([...(await store.get('c1'))!.queue].map((d) => d.message.topic), ['t/1']);
  });

  test(`${name}: offline() lists only disconnected sessions`, async () => {
    const store = await makeStore();
    const online = new Session('on', 60);
    const offline = new Session('off', 60);
    offline.disconnectedAt = Date.now();
    await store.put(online);
    await store.put(offline);
    const ids: string[] = [];
    for await (const s of store.offline()) ids.push(s.clientId);
    assert.deepEqual(ids, ['off']);
  });
}

export function retainedStoreContract(name: string, makeStore: () => Promise<RetainedStore>): void {
  test(`${name}: [MQTT-3.3.1-5] a retained message replaces the one stored for its topic`, async () => {
    const store = await makeStore();
    await store.set(retained('a/b', 'one'));
    await store.set(retained('a/b', 'two'));
    const found = await store.match('a/b');
    assert.deepEqual(found.map((m) => m.payload.toString()), ['two']);
    assert.equal(await store.count(), 1);
  });

  test(`${name}: delete removes the retained message`, async () => {
    const store = await makeStore();
    await store.set(retained('a/b'));
    await store.delete('a/b');
    assert.deepEqual(await store.match('a/#'), []);
    assert.equal(await store.count(), 0);
  });

  test(`${name}: wildcard lookups find matching topics only, and skip $ topics at the first level`, async () => {
    const store = await makeStore();
    for (const topic of ['a/b', 'a/c/d', 'x/b', '$SYS/b']) await store.set(retained(topic));
    const topics = async (filter: string) => (await store.match(filter)).map((m) => m.topic).sort();
    assert.deepEqual(await topics('a/+'), ['a/b']);
    assert.deepEqual(await topics('a/#'), ['a/b', 'a/c/d']);
    assert.deepEqual(await topics('+/b'), ['a/b', 'x/b']);
    assert.deepEqual(await topics('#'), ['a/b', 'a/c/d', 'x/b']);
    assert.deepEqual(await topics('$SYS/#'), ['$SYS/b']);
  });
}
