// The cluster-state adapters against a real Redis: route table and feed, node registry,
// session directory, wills. One Redis for the file; every test gets a key prefix of its own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { StoreUnavailableError, type Message } from '@roost/protocol';
import type { RouteChange, RouteListener } from '@roost/broker';
import { RedisNodeRegistry, RedisRouteStore, RedisSessionDirectory, RedisSharedOwners, RedisWillStore, type NodeRegistryOptions } from '@roost/store-redis';
import { startRedis, type RedisServer } from '../../../test/helpers/redis.ts';

const WAIT_MS = 3_000;

let redis: RedisServer;
let control: Redis;
let prefixes = 0;
const clients: Redis[] = [];
const closers: Array<() => Promise<unknown>> = [];

function freshPrefix(): string {
  return `roost-test:${process.pid}:${++prefixes}:`;
}

function connect(options: RedisOptions = {}): Redis {
  const client = new Redis(redis.url, options);
  clients.push(client);
  return client;
}

/** Closed in after() even when a test fails half-way. */
function closeLater<T extends { close(): Promise<unknown> }>(closable: T): T {
  closers.push(() => closable.close());
  return closable;
}

before(async () => {
  redis = await startRedis();
  control = connect();
});

after(async () => {
  await Promise.allSettled(closers.map((close) => close()));
  await Promise.allSettled(clients.map((client) => (client.status === 'ready' ? client.quit() : client.disconnect())));
  await redis?.stop();
});

const route = (filter: string, nodeId: string) => `${filter} @ ${nodeId}`;

/** A replica as the broker keeps one, recording what it was told. */
class ReplicaListener implements RouteListener {
  readonly replica = new Set<string>();
  readonly changes: RouteChange[] = [];
  readonly versions: number[] = [];
  readonly resets: string[][] = [];
  private readonly updates = new EventEmitter();

  change(change: RouteChange, version: number): void {
    this.changes.push(change);
    this.versions.push(version);
    if (change.op === 'add') this.replica.add(route(change.filter, change.nodeId));
    else this.replica.delete(route(change.filter, change.nodeId));
    this.updates.emit('update');
  }

  reset(routes: Array<{ filter: string; nodeId: string }>): void {
    const all = routes.map((r) => route(r.filter, r.nodeId));
    this.resets.push(all.sort());
    this.replica.clear();
    for (const r of all) this.replica.add(r);
    this.updates.emit('update');
  }

  /** Resolves once `done()` holds after some update; fails after WAIT_MS. */
  async until(done: () => boolean, what: string): Promise<void> {
    const deadline = AbortSignal.timeout(WAIT_MS);
    while (!done()) {
      await once(this.updates, 'update', { signal: deadline }).catch((error: Error) => {
        throw new Error(`timed out waiting for ${what}`, { cause: error });
      });
    }
  }

  sorted(): string[] {
    return [...this.replica].sort();
  }
}

/** A watcher of its own, as another node would have. */
async function watcher(prefix: string, client: Redis = control, watcherName?: string): Promise<ReplicaListener> {
  const listener = new ReplicaListener();
  await closeLater(new RedisRouteStore(client, prefix, { watcherName })).watch(listener);
  return listener;
}

describe('RedisRouteStore', () => {
  test('add and remove change the table once; repeating either publishes nothing', async () => {
    const prefix = freshPrefix();
    const store = closeLater(new RedisRouteStore(control, prefix));
    const listener = await watcher(prefix);
    assert.deepEqual(listener.resets, [[]]);

    assert.equal(await store.add('a/+', 'n1'), 1);
    assert.equal(await store.add('a/+', 'n1'), 1, 'an existing route answers the current version');
    assert.equal(await store.add('$share/g/b/#', 'n1'), 2);
    await store.add('a/+', 'n2');
    await store.remove('$share/g/b/#', 'n1');
    await store.remove('$share/g/b/#', 'n1');
    await store.remove('never/added', 'n1');
    await store.add('marker', 'n3'); // the next change after the no-ops
    await listener.until(() => listener.changes.length >= 5, 'five changes');

    assert.deepEqual(listener.versions, [1, 2, 3, 4, 5], 'each change carries the next version');
    assert.deepEqual(listener.changes, [
      { op: 'add', filter: 'a/+', nodeId: 'n1' },
      { op: 'add', filter: '$share/g/b/#', nodeId: 'n1' },
      { op: 'add', filter: 'a/+', nodeId: 'n2' },
      { op: 'remove', filter: '$share/g/b/#', nodeId: 'n1' },
      { op: 'add', filter: 'marker', nodeId: 'n3' },
    ]);
    const expected = [route('a/+', 'n1'), route('a/+', 'n2'), route('marker', 'n3')].sort();
    assert.deepEqual(listener.sorted(), expected);
    // A node that starts watching now loads the same table.
    assert.deepEqual((await watcher(prefix)).resets, [expected]);
  });

  test('two watchers see the same changes in the same order as concurrent writers commit them', async () => {
    const prefix = freshPrefix();
    const [first, second] = await Promise.all([watcher(prefix), watcher(prefix)]);
    const writers = [closeLater(new RedisRouteStore(control, prefix)), closeLater(new RedisRouteStore(connect(), prefix))];
    const expected: string[] = [];
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const nodeId = `n${i % 2}`;
        const writer = writers[i % 2]!;
        await writer.add(`t/${i}/#`, nodeId);
        if (i % 3 === 0) await writer.remove(`t/${i}/#`, nodeId);
        else expected.push(route(`t/${i}/#`, nodeId));
      }),
    );
    const total = 60 + 20;
    await first.until(() => first.changes.length === total, 'the first watcher to see every change');
    await second.until(() => second.changes.length === total, 'the second watcher to see every change');
    assert.deepEqual(second.changes, first.changes);
    assert.deepEqual(first.sorted(), expected.sort());
    assert.deepEqual(second.sorted(), expected);
  });

  test('a watcher whose subscriber connection is killed resyncs with what changed while it was away', async () => {
    const prefix = freshPrefix();
    const name = `route-watch-${prefixes}`;
    const store = closeLater(new RedisRouteStore(control, prefix));
    await store.add('a/1', 'n1');
    // The subscriber is a duplicate of this client, so it too waits 300 ms before reconnecting:
    // long enough for the changes below to be made while it is certainly away.
    const listener = await watcher(prefix, connect({ retryStrategy: () => 300 }), name);
    assert.deepEqual(listener.resets, [[route('a/1', 'n1')]]);

    const list = (await control.client('LIST')) as string;
    const id = list.split('\n').find((line) => line.includes(` name=${name} `))?.match(/^id=(\d+) /)?.[1];
    assert.ok(id, `no client named ${name} in CLIENT LIST`);
    await control.client('KILL', 'ID', id);
    await store.add('a/2', 'n1');
    await store.remove('a/1', 'n1');
    await store.add('a/3', 'n2');

    await listener.until(() => listener.resets.length === 2, 'the resync');
    assert.deepEqual(listener.resets[1], [route('a/2', 'n1'), route('a/3', 'n2')]);
    assert.deepEqual(listener.changes, [], 'changes made while away arrive in the reset, not as messages');
    await store.add('a/4', 'n1');
    await listener.until(() => listener.changes.length === 1, 'a change after the resync');
    assert.deepEqual(listener.sorted(), [route('a/2', 'n1'), route('a/3', 'n2'), route('a/4', 'n1')]);
  });

  test('a gap in the versions makes a watcher reload the table', async () => {
    const prefix = freshPrefix();
    const store = closeLater(new RedisRouteStore(control, prefix));
    await store.add('a', 'n1');
    const listener = await watcher(prefix);
    const version = Number(await control.get(`${prefix}{routes}:version`));
    // A message that skips a version: as if the one before it had been lost.
    await control.publish(`${prefix}{routes}:changes`, `${version + 2} add ["ghost","n9"]`);
    await listener.until(() => listener.resets.length === 2, 'the reload');
    assert.deepEqual(listener.resets[1], [route('a', 'n1')]);
    await store.add('b', 'n1');
    await listener.until(() => listener.changes.length === 1, 'the next change');
    assert.deepEqual(listener.sorted(), [route('a', 'n1'), route('b', 'n1')]);
  });

  test('removeNode removes every route of one node and publishes each removal', async () => {
    const prefix = freshPrefix();
    const store = closeLater(new RedisRouteStore(control, prefix));
    for (const filter of ['a', 'b/+', 'c/#']) await store.add(filter, 'n1');
    await store.add('a', 'n2');
    await store.add('x', 'n10'); // an id that n1 is a prefix of
    const listener = await watcher(prefix);

    await store.removeNode('n1');
    await store.removeNode('n1');
    await store.removeNode('never-seen');
    await store.add('marker', 'n2');
    await listener.until(() => listener.changes.length === 4, 'three removals and the marker');
    assert.deepEqual(
      listener.changes.slice(0, 3).map((change) => `${change.op} ${route(change.filter, change.nodeId)}`).sort(),
      ['remove a @ n1', 'remove b/+ @ n1', 'remove c/# @ n1'],
    );
    assert.deepEqual(listener.changes[3], { op: 'add', filter: 'marker', nodeId: 'n2' });
    const expected = [route('a', 'n2'), route('marker', 'n2'), route('x', 'n10')];
    assert.deepEqual(listener.sorted(), expected);
    assert.deepEqual((await watcher(prefix)).resets, [expected]);
  });
});

describe('RedisNodeRegistry', () => {
  const fast: NodeRegistryOptions = { heartbeatMs: 100, ttlMs: 300 };

  /** A registry on a connection of its own, so the test can cut it off like a crashed process. */
  async function crashable(prefix: string, nodeId: string) {
    const client = connect();
    const registry = new RedisNodeRegistry(client, prefix, { ...fast, onError: () => {} });
    await registry.register({ nodeId, address: `${nodeId}:7000` });
    return {
      registry,
      /** The heartbeat stops reaching Redis; the keys stay until their TTL runs out. */
      crash: async () => {
        client.disconnect();
        await assert.rejects(registry.close(), StoreUnavailableError);
      },
    };
  }

  function deathsOf(registry: RedisNodeRegistry) {
    const deaths: string[] = [];
    const reported = new EventEmitter();
    registry.watchDeaths((nodeId) => {
      deaths.push(nodeId);
      reported.emit('dead');
    });
    return {
      deaths,
      next: () => once(reported, 'dead', { signal: AbortSignal.timeout(WAIT_MS) }),
    };
  }

  test('a crashed node is reported once, a departed one never, a returning one again when it dies', async () => {
    const prefix = freshPrefix();
    const survivor = closeLater(new RedisNodeRegistry(control, prefix, fast));
    await survivor.register({ nodeId: 'n-a', address: 'a:7000' });
    const leaving = closeLater(new RedisNodeRegistry(connect(), prefix, fast));
    await leaving.register({ nodeId: 'n-c', address: 'c:7000' });
    const crashing = await crashable(prefix, 'n-b');
    const byId = (a: { nodeId: string }, b: { nodeId: string }) => a.nodeId.localeCompare(b.nodeId);
    assert.deepEqual((await survivor.alive()).sort(byId), [
      { nodeId: 'n-a', address: 'a:7000' },
      { nodeId: 'n-b', address: 'n-b:7000' },
      { nodeId: 'n-c', address: 'c:7000' },
    ]);

    const watch = deathsOf(survivor);
    const died = watch.next();
    await leaving.close();
    await crashing.crash();
    await died;
    assert.deepEqual(watch.deaths, ['n-b']);
    assert.deepEqual(await survivor.alive(), [{ nodeId: 'n-a', address: 'a:7000' }]);
    // "Once" has no event to wait for: let several polls pass.
    await sleep(5 * fast.heartbeatMs!);
    assert.deepEqual(watch.deaths, ['n-b']);

    const diedAgain = watch.next();
    const returning = await crashable(prefix, 'n-b');
    await returning.crash();
    await diedAgain;
    assert.deepEqual(watch.deaths, ['n-b', 'n-b']);
  });

  test('exactly one of two racing nodes claims the reap; forget ends the reports', async () => {
    const prefix = freshPrefix();
    const a = closeLater(new RedisNodeRegistry(control, prefix, fast));
    const c = closeLater(new RedisNodeRegistry(connect(), prefix, fast));
    await a.register({ nodeId: 'n-a', address: 'a:7000' });
    await c.register({ nodeId: 'n-c', address: 'c:7000' });
    const crashing = await crashable(prefix, 'n-b');
    assert.equal(await a.claimReap('n-b', 'n-a'), false, 'a live node is not reaped');

    const watch = deathsOf(a);
    const died = watch.next();
    await crashing.crash();
    await died;
    const claims = await Promise.all([a.claimReap('n-b', 'n-a'), c.claimReap('n-b', 'n-c')]);
    assert.deepEqual(claims.filter(Boolean), [true], `claims: ${claims}`);
    assert.equal(await a.claimReap('n-b', 'n-a'), false);

    await (claims[0] ? a : c).forget('n-b');
    assert.equal(await control.hexists(`${prefix}{nodes}:known`, 'n-b'), 0);
    assert.equal(await c.claimReap('n-b', 'n-c'), false, 'a forgotten node cannot be claimed by a late watcher');
  });

  test('a node leaving with handOver is reported dead, so a peer reaps what it held', async () => {
    const prefix = freshPrefix();
    const survivor = closeLater(new RedisNodeRegistry(control, prefix, fast));
    await survivor.register({ nodeId: 'n-a', address: 'a:7000' });
    const leaving = new RedisNodeRegistry(connect(), prefix, fast);
    await leaving.register({ nodeId: 'n-l', address: 'l:7000' });
    const watch = deathsOf(survivor);
    const reported = watch.next();
    await leaving.close({ handOver: true });
    await reported;
    assert.deepEqual(watch.deaths, ['n-l']);
    assert.equal(await survivor.claimReap('n-l', 'n-a'), true);
  });

  test('a heartbeat that finds its key gone registers again and reports the lapse', async () => {
    const prefix = freshPrefix();
    const lapsed = new EventEmitter();
    const registry = closeLater(new RedisNodeRegistry(control, prefix, { ...fast, onLapse: () => lapsed.emit('lapse') }));
    await registry.register({ nodeId: 'n-a', address: 'a:7000' });
    const lapse = once(lapsed, 'lapse', { signal: AbortSignal.timeout(WAIT_MS) });
    await control.del(`${prefix}{nodes}:alive:n-a`);
    await lapse;
    assert.deepEqual(await registry.alive(), [{ nodeId: 'n-a', address: 'a:7000' }]);
  });
});

describe('RedisSessionDirectory', () => {
  test('claims return increasing epochs and the previous holder; the index follows the holder', async () => {
    const directory = new RedisSessionDirectory(control, freshPrefix());
    assert.deepEqual(await directory.claim('c1', 'n1'), { epoch: 1 });
    assert.deepEqual(await directory.heldBy('n1'), ['c1']);
    assert.deepEqual(await directory.claim('c1', 'n2'), { epoch: 2, previous: 'n1' });
    assert.equal(await directory.holds('c1', 1), false);
    assert.equal(await directory.holds('c1', 2), true);
    assert.deepEqual(await directory.heldBy('n1'), []);
    assert.deepEqual(await directory.heldBy('n2'), ['c1']);
  });

  test('of two racing claims exactly one holds, and only its node lists the client', async () => {
    const prefix = freshPrefix();
    const here = new RedisSessionDirectory(control, prefix);
    const there = new RedisSessionDirectory(connect(), prefix);
    const [first, second] = await Promise.all([here.claim('racer', 'n1'), there.claim('racer', 'n2')]);
    assert.deepEqual([first.epoch, second.epoch].sort(), [1, 2]);
    const holds = [await here.holds('racer', first.epoch), await there.holds('racer', second.epoch)];
    assert.deepEqual(holds.filter(Boolean), [true]);
    const [winner, loser] = holds[0] ? ['n1', 'n2'] : ['n2', 'n1'];
    const [winning, losing] = holds[0] ? [first, second] : [second, first];
    // The later claim wins, and it saw the earlier one as the previous holder.
    assert.equal(winning.previous, loser);
    assert.equal(losing.previous, undefined);
    assert.deepEqual(await here.heldBy(winner), ['racer']);
    assert.deepEqual(await here.heldBy(loser), []);
  });

  test('release with a stale epoch does nothing; with the current one it frees the client', async () => {
    const directory = new RedisSessionDirectory(control, freshPrefix());
    await directory.claim('c', 'n1');
    const { epoch } = await directory.claim('c', 'n2');
    await directory.release('c', epoch - 1);
    assert.equal(await directory.holds('c', epoch), true);
    assert.deepEqual(await directory.heldBy('n2'), ['c']);

    await directory.release('c', epoch);
    assert.equal(await directory.holds('c', epoch), false);
    assert.deepEqual(await directory.heldBy('n2'), []);
    // Epochs outlive the release, so a stale holder can never match a later claim.
    assert.deepEqual(await directory.claim('c', 'n1'), { epoch: epoch + 1 });
  });

  test('claimFrom takes a client only while the expected node holds it (a reaper never takes a client back from where it reconnected)', async () => {
    const directory = new RedisSessionDirectory(control, freshPrefix());
    await directory.claim('c', 'dead');
    await directory.claim('c', 'elsewhere'); // the client reconnected before the reap
    assert.equal(await directory.claimFrom('c', 'reaper', 'dead'), undefined);
    assert.equal(await directory.holder('c'), 'elsewhere');
    assert.deepEqual(await directory.heldBy('reaper'), []);
    await directory.claim('d', 'dead');
    assert.equal(await directory.claimFrom('d', 'reaper', 'dead'), 2);
    assert.deepEqual(await directory.heldBy('dead'), []);
    assert.deepEqual(await directory.heldBy('reaper'), ['d']);
    assert.equal(await directory.holds('d', 2), true);
  });

  test('heldBy keeps nodes whose ids prefix each other apart, and pages through many clients', async () => {
    const directory = new RedisSessionDirectory(control, freshPrefix());
    const many = Array.from({ length: 2500 }, (_, i) => `client/${String(i).padStart(4, '0')} ü`);
    await Promise.all(many.map((clientId) => directory.claim(clientId, 'n1')));
    await directory.claim('other', 'n10');
    assert.deepEqual((await directory.heldBy('n1')).sort(), many);
    assert.deepEqual(await directory.heldBy('n10'), ['other']);
    assert.deepEqual(await directory.heldBy('n'), []);
  });
});

describe('RedisSharedOwners', () => {
  const at = (member: string, epoch = 1) => ({ member, epoch });

  test('remembers which member took a message, per group and message id', async () => {
    const owners = new RedisSharedOwners(control, freshPrefix());
    assert.equal(await owners.owner('g', 'id-1'), undefined);
    assert.equal(await owners.claim('g', 'id-1', at('member-a')), 'member-a');
    assert.equal(await owners.claim('h', 'id-1', at('member-b')), 'member-b');
    assert.equal(await owners.owner('g', 'id-1'), 'member-a');
    assert.equal(await owners.owner('h', 'id-1'), 'member-b');
    assert.equal(await owners.owner('g', 'id-2'), undefined);
  });

  test('[§4.8.2] a second claim of a message gets the first member; the owner itself, or one replacing it (a hand-back), takes it', async () => {
    const owners = new RedisSharedOwners(control, freshPrefix());
    assert.equal(await owners.claim('g', 'id-1', at('member-a')), 'member-a');
    assert.equal(await owners.claim('g', 'id-1', at('member-b')), 'member-a', 'two offers at once end at the first member');
    assert.equal(await owners.claim('g', 'id-1', at('member-a')), 'member-a');
    assert.equal(await owners.claim('g', 'id-1', at('member-c'), at('member-b')), 'member-a', 'replacing another member gives no claim');
    assert.equal(await owners.claim('g', 'id-1', at('member-c'), at('member-a')), 'member-c', 'the leaving member gives it up');
    assert.equal(await owners.owner('g', 'id-1'), 'member-c');
  });

  test('[§4.8.2] a message kept by the node that took the member on (a newer epoch) is not given away by an older holder', async () => {
    const owners = new RedisSharedOwners(control, freshPrefix());
    assert.equal(await owners.claim('g', 'id-1', at('member-a', 5)), 'member-a');
    assert.equal(await owners.keep('g', 'id-1', at('member-a', 7)), 'member-a', 'the new holder keeps its member\'s message');
    assert.equal(await owners.claim('g', 'id-1', at('member-b', 1), at('member-a', 5)), 'member-a', 'the old holder\'s hand-back gives no claim');
    assert.equal(await owners.claim('g', 'id-1', at('member-b', 1), at('member-a', 7)), 'member-b', 'the new holder\'s own hand-back does');
    assert.equal(await owners.keep('g', 'id-1', at('member-a', 9)), 'member-b', 'a message another member took is not kept');
    assert.equal(await owners.keep('g', 'id-2', at('member-a', 9)), 'member-a', 'one never claimed is kept');
    assert.equal(await owners.claim('g', 'id-2', at('member-a', 3)), 'member-a', 'the owner claiming again keeps the newer epoch');
    assert.equal(await owners.claim('g', 'id-2', at('member-b', 1), at('member-a', 3)), 'member-a');
  });

  test('a record an older node wrote (the member alone, no epoch) reads as epoch 0', async () => {
    const prefix = freshPrefix();
    const owners = new RedisSharedOwners(control, prefix);
    await control.set(`${prefix}shared-owner:g\0id-1`, 'member-a');
    assert.equal(await owners.owner('g', 'id-1'), 'member-a');
    assert.equal(await owners.claim('g', 'id-1', at('member-b', 1), at('member-a', 0)), 'member-b');
  });
});

describe('RedisWillStore', () => {
  const message: Message = {
    topic: 'status/c1',
    payload: Buffer.from([0x00, 0xff, 0x80]),
    qos: 1,
    retain: true,
    properties: { contentType: 'bin', correlationData: Buffer.from([1, 2]), userProperties: { k: 'v' } },
  };

  test('a will is taken once, and a deleted will cannot be taken', async () => {
    const wills = new RedisWillStore(control, freshPrefix());
    await wills.set('c1', { message, delaySeconds: 5, expirySeconds: 60 });
    await wills.set('c2', { message, delaySeconds: 0 });

    const racing = await Promise.all([wills.take('c1'), wills.take('c1')]);
    assert.equal(racing.filter((will) => will !== undefined).length, 1, 'of two racing takes one gets the will');
    assert.deepEqual(racing.find((will) => will !== undefined), { message, delaySeconds: 5, expirySeconds: 60 });
    assert.equal(await wills.take('c1'), undefined);

    await wills.delete('c2');
    assert.equal(await wills.take('c2'), undefined);
    await wills.delete('never-set');
  });

  test('reading a will leaves it in the store (an adopter that dies keeps nothing only in memory)', async () => {
    const wills = new RedisWillStore(control, freshPrefix());
    await wills.set('c1', { message, delaySeconds: 5 });
    assert.deepEqual(await wills.get('c1'), { message, delaySeconds: 5 });
    assert.deepEqual(await wills.take('c1'), { message, delaySeconds: 5 }, 'still there after get');
    assert.equal(await wills.get('c1'), undefined);
  });
});
