// The pure parts of the limits, without sockets: token buckets, the bounded address map, the
// address key, the ban table, the publish throttle and the topic limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import fc from 'fast-check';
import { defaultLimits } from '@roost/broker';
import { TokenBucket } from '../src/token-bucket.ts';
import { RecentMap } from '../src/recent-map.ts';
import { addressKey } from '../src/address-key.ts';
import { BanTable, refusalDelayMs } from '../src/ban-table.ts';
import { ConnectRateLimiter } from '../src/connect-rate.ts';
import { PublishThrottle } from '../src/publish-throttle.ts';
import { topicOverLimit } from '../src/topic-limits.ts';

test('a token bucket gives its burst at once, then its rate, and refills while left alone', () => {
  const bucket = new TokenBucket(10, 5);
  let taken = 0;
  while (bucket.tryTake(1, 1000)) taken++;
  assert.equal(taken, 5);
  assert.equal(bucket.tryTake(1, 1099), false, 'a token takes 100 ms to come back');
  assert.equal(bucket.tryTake(1, 1100), true);
  assert.equal(bucket.isFull(1100), false);
  assert.equal(bucket.isFull(1600), true, 'five tokens take 500 ms');
});

test('a token bucket lends ahead: each taker beyond the burst is told how long its tokens take', () => {
  const bucket = new TokenBucket(10, 2);
  assert.equal(bucket.reserve(1, 0), 0);
  assert.equal(bucket.reserve(1, 0), 0);
  assert.equal(bucket.reserve(1, 0), 100);
  assert.equal(bucket.reserve(1, 0), 200);
  assert.equal(bucket.reserve(1, 200), 100, 'time passing pays back what was lent');
});

test('property: over any schedule, a token bucket never lets through more than its burst plus its rate over the time', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 50 }), fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 300 }), (rate, burst, gaps) => {
      const bucket = new TokenBucket(rate, burst);
      let now = 0;
      let taken = 0;
      for (const gap of gaps) {
        now += gap;
        if (bucket.tryTake(1, now)) taken++;
      }
      assert.ok(taken <= burst + (rate * now) / 1000 + 1e-9, `${taken} taken in ${now} ms`);
    }),
  );
});

test('a recent map keeps its capacity of most recently used keys', () => {
  const map = new RecentMap<string, number>(3);
  map.set('a', 1);
  map.set('b', 2);
  map.set('c', 3);
  map.get('a'); // a is now the most recent; b the least
  map.set('d', 4);
  assert.equal(map.size, 3);
  assert.equal(map.get('b'), undefined);
  assert.equal(map.get('a'), 1);
  assert.equal(map.get('d'), 4);
});

test('an address key is the IPv4 address, an IPv4-mapped one unwrapped, an IPv6 one its /64', () => {
  assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:DB8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('64:ff9b::192.0.2.7'), '64:ff9b:0:0::/64');
  assert.equal(addressKey(''), '');
});

test('fuzz: an address key never throws, and every IPv6 address lies in the /64 its key names', () => {
  fc.assert(
    fc.property(fc.ipV6(), (address) => {
      const key = addressKey(address);
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
      if (mapped) return assert.equal(key, mapped[1]);
      const list = new BlockList();
      list.addSubnet(key.replace('/64', ''), 64, 'ipv6');
      assert.ok(list.check(address, 'ipv6'), `${address} is not in ${key}`);
    }),
  );
  fc.assert(fc.property(fc.string({ maxLength: 60 }), (text) => void addressKey(text)));
});

test('fuzz: addresses in one /64 share a key, and addresses in different /64s do not', () => {
  const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
  fc.assert(
    fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.array(group, { minLength: 4, maxLength: 4 }), (groups, otherHost) => {
      const a = groups.join(':');
      const b = [...groups.slice(0, 4), ...otherHost].join(':');
      assert.equal(addressKey(a), addressKey(b));
      const c = [groups[0], groups[1], groups[2], ((parseInt(groups[3]!, 16) + 1) & 0xffff).toString(16), ...groups.slice(4)].join(':');
      assert.notEqual(addressKey(a), addressKey(c));
    }),
  );
});

test('connect rate: one address gets its rate per second, another address its own', () => {
  const limiter = new ConnectRateLimiter(3);
  const admitted = (address: string, now: number) => limiter.admit(address, now);
  assert.deepEqual([1, 2, 3, 4].map(() => admitted('192.0.2.1', 0)), [true, true, true, false]);
  assert.equal(admitted('192.0.2.2', 0), true, 'another address is not affected');
  assert.equal(admitted('192.0.2.1', 334), true, 'a token is back after a third of a second');
  assert.equal(admitted('2001:db8::1', 0) && admitted('2001:db8::2', 0) && admitted('2001:db8::3', 0), true);
  assert.equal(admitted('2001:db8::4', 0), false, 'a /64 counts as one address');
});

test('connect rate: an address scan keeps memory bounded and forgets the oldest addresses', () => {
  const limiter = new ConnectRateLimiter(1, 100);
  assert.equal(limiter.admit('192.0.2.1', 0), true);
  assert.equal(limiter.admit('192.0.2.1', 0), false);
  for (let i = 0; i < 1000; i++) limiter.admit(`10.0.${i >> 8}.${i & 255}`, 0);
  assert.equal((limiter as unknown as { buckets: RecentMap<string, unknown> }).buckets.size, 100);
  assert.equal(limiter.admit('192.0.2.1', 0), true, 'forgotten: a fresh, full bucket');
});

test('ban table: N failures within the window ban the address for the window; others are not touched', () => {
  const bans = new BanTable({ after: 3, seconds: 10 });
  assert.deepEqual(bans.fail('a', 0), { failures: 1, banned: false });
  assert.deepEqual(bans.fail('a', 1000), { failures: 2, banned: false });
  assert.equal(bans.bannedFor('a', 1000), 0);
  assert.deepEqual(bans.fail('a', 2000), { failures: 3, banned: true });
  assert.equal(bans.bannedFor('a', 2000), 10_000);
  assert.equal(bans.bannedFor('a', 11_999), 1);
  assert.equal(bans.bannedFor('a', 12_000), 0, 'the ban ends');
  assert.equal(bans.bannedFor('b', 2000), 0);
});

test('ban table: failures spread wider than the window never ban', () => {
  const bans = new BanTable({ after: 3, seconds: 10 });
  for (let t = 0; t < 100_000; t += 6_000) assert.equal(bans.fail('a', t).banned, false);
  assert.equal(bans.bannedFor('a', 100_000), 0);
});

test('ban table: failures during a ban do not extend it, and counting starts again after it', () => {
  const bans = new BanTable({ after: 2, seconds: 10 });
  bans.fail('a', 0);
  assert.equal(bans.fail('a', 0).banned, true);
  bans.fail('a', 5000); // one that got through while banned (a CONNECT already being checked)
  assert.equal(bans.bannedFor('a', 9_999), 1);
  assert.equal(bans.fail('a', 10_000).banned, false);
  assert.equal(bans.fail('a', 10_001).banned, true);
});

test('refusals slow down with each failure: the first at once, later ones up to 2 s', () => {
  assert.equal(refusalDelayMs(1), 0);
  assert.equal(refusalDelayMs(2), 250);
  assert.equal(refusalDelayMs(5), 1000);
  assert.equal(refusalDelayMs(100), 2000);
});

test('publish throttle: nothing set, nothing to pay', () => {
  assert.equal(PublishThrottle.of(defaultLimits), undefined);
});

test('publish throttle: the burst goes at once; each PUBLISH beyond waits its turn at the rate', () => {
  const throttle = new PublishThrottle(10, undefined, 1);
  for (let i = 0; i < 10; i++) assert.equal(throttle.take(10, 0), undefined);
  assert.deepEqual(throttle.take(10, 0), { releaseAt: 100, limit: 'publish_rate', overForMs: 0 });
  assert.deepEqual(throttle.take(10, 50), { releaseAt: 200, limit: 'publish_rate', overForMs: 50 });
});

test('publish throttle: the byte rate holds back large PUBLISHes and says so', () => {
  const throttle = new PublishThrottle(1000, 1000, 1);
  assert.equal(throttle.take(600, 0), undefined);
  const held = throttle.take(600, 0);
  assert.equal(held?.limit, 'publish_bytes_rate');
  assert.equal(held?.releaseAt, 200);
});

test('publish throttle: a client kept at its rate stays "over"; one that pauses until half its burst is back is calm again', () => {
  const throttle = new PublishThrottle(10, undefined, 1);
  for (let i = 0; i < 11; i++) throttle.take(1, 0);
  // Each PUBLISH at its release time, as a held-back client's are: still over.
  let now = 0;
  for (let i = 0; i < 20; i++) {
    const held = throttle.take(1, now);
    assert.ok(held, `PUBLISH ${i} should wait`);
    now = held.releaseAt;
  }
  assert.ok(throttle.take(1, now)!.overForMs >= 1900);
  const later = now + 1_100; // the ten tokens lent out by now are back
  assert.equal(throttle.take(1, later), undefined, 'the burst is back');
  for (let i = 0; i < 9; i++) assert.equal(throttle.take(1, later), undefined);
  assert.equal(throttle.take(1, later)?.overForMs, 0, 'calm in between: the time over starts again');
});

test('topic limits: length in UTF-8 bytes, levels of the filter inside $share', () => {
  const limits = { ...defaultLimits, maxTopicLength: 10, maxTopicLevels: 3 };
  assert.equal(topicOverLimit('a/b/c', limits), undefined);
  assert.equal(topicOverLimit('0123456789', limits), undefined);
  assert.equal(topicOverLimit('0123456789a', limits), 'topic_length');
  assert.equal(topicOverLimit('ééééé/', limits), 'topic_length', '11 bytes in 6 characters');
  assert.equal(topicOverLimit('a/b/c/d', limits), 'topic_levels');
  assert.equal(topicOverLimit('///', limits), 'topic_levels', 'empty levels count');
  assert.equal(topicOverLimit('$share/g/a/b', { ...limits, maxTopicLength: 100 }), undefined, 'the group is not a level');
  assert.equal(topicOverLimit('$share/g/a/b/c/d', { ...limits, maxTopicLength: 100 }), 'topic_levels');
  assert.equal(topicOverLimit('x'.repeat(65_535), defaultLimits), undefined, 'the default length: the protocol\'s largest');
  assert.equal(topicOverLimit('x'.repeat(65_536), defaultLimits), 'topic_length');
  assert.equal(topicOverLimit('a/'.repeat(127) + 'a', defaultLimits), undefined, 'the default: 128 levels');
  assert.equal(topicOverLimit('a/'.repeat(128) + 'a', defaultLimits), 'topic_levels');
  const { maxTopicLength: _length, maxTopicLevels: _levels, ...unlimited } = defaultLimits;
  assert.equal(topicOverLimit('a/'.repeat(40_000), unlimited), undefined, 'no limit set');
});
