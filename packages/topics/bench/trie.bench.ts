// Micro-benchmark of the topic trie and the retained topic tree. Prints figures, asserts
// nothing; each measurement runs for a fixed time so the whole run stays under ~10 s.
// Run: npm run bench:trie
import { SubscriptionTrie, TopicTree, topicMatches } from '../src/index.ts';

const FILTERS = 100_000;
const TOPICS = 100_000;
const SITES = 100;
const MEASURE_MS = 700;

/** Deterministic pseudo-random numbers (mulberry32), so runs are comparable. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Calls `run` for `ms` after a warm-up of a quarter of that, and returns calls per second.
 * Batches grow until one lasts a millisecond, so reading the clock costs little for fast
 * calls and a slow call (a `#` over 100k topics) does not overrun the budget.
 */
function measure(ms: number, run: () => void): number {
  loop(ms / 4, run); // let the JIT settle
  return loop(ms, run);
}

function loop(ms: number, run: () => void): number {
  let calls = 0;
  let batch = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    const batchStart = performance.now();
    for (let i = 0; i < batch; i++) run();
    calls += batch;
    const now = performance.now();
    if (now - batchStart < 1) batch *= 2;
    elapsed = now - start;
  }
  return (calls * 1000) / elapsed;
}

function format(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function timed<T>(build: () => T): [T, number] {
  const start = performance.now();
  const result = build();
  return [result, performance.now() - start];
}

/**
 * A device fleet: 60% exact subscriptions (a device's own telemetry), 30% `+` (one command
 * stream across sites), 10% `#` (everything from one device); plus a few broad filters.
 */
function filterFor(i: number): string {
  const site = i % SITES;
  if (i % 10 < 6) return `site/${site}/dev/${i}/telemetry`;
  if (i % 10 < 9) return `site/+/dev/${i}/cmd`;
  return `site/${site}/dev/${i}/#`;
}

function benchSubscriptionTrie(): void {
  const [trie, buildMs] = timed(() => {
    const t = new SubscriptionTrie<number>();
    for (let i = 0; i < FILTERS; i++) t.add(filterFor(i), `client-${i}`, i);
    t.add('site/+/dev/+/alarm', 'monitor', 0);
    t.add('site/0/#', 'site-0-ops', 0);
    t.add('#', 'firehose', 0);
    return t;
  });
  console.log(`SubscriptionTrie: ${format(trie.filterCount)} filters, ${format(trie.nodeCount)} nodes, built in ${buildMs.toFixed(0)} ms`);

  const next = random(1);
  const kinds = ['telemetry', 'cmd', 'alarm', 'status'];
  const topics = Array.from({ length: 4096 }, () => {
    const device = Math.floor(next() * FILTERS);
    return `site/${device % SITES}/dev/${device}/${kinds[Math.floor(next() * kinds.length)]}`;
  });
  let visits = 0;
  for (const topic of topics) trie.match(topic, () => visits++);
  let t = 0;
  const rate = measure(MEASURE_MS, () => trie.match(topics[t++ & 4095]!, () => {}));
  console.log(`  match: ${format(rate)} matches/s, ${(visits / topics.length).toFixed(2)} entries visited per match`);

  // The same topics against a linear scan with the reference matcher, for scale.
  const filters = Array.from({ length: FILTERS }, (_, i) => filterFor(i));
  const naiveRate = measure(200, () => {
    const topic = topics[t++ & 4095]!;
    for (const filter of filters) topicMatches(filter, topic);
  });
  console.log(`  naive scan of ${format(FILTERS)} filters with topicMatches: ${naiveRate.toFixed(1)} matches/s`);
}

function benchTopicTree(): void {
  const [tree, buildMs] = timed(() => {
    const t = new TopicTree<number>();
    for (let i = 0; i < TOPICS; i++) t.set(`site/${i % SITES}/dev/${i}/state`, i);
    t.set('$SYS/broker/uptime', 0);
    return t;
  });
  console.log(`TopicTree: ${format(tree.size)} topics, ${format(tree.nodeCount)} nodes, built in ${buildMs.toFixed(0)} ms`);
  const lookups: Array<[string, number]> = [
    ['site/42/dev/4242/state', 0], // exact: a chain of Map lookups
    ['site/+/dev/4242/state', 0], // fans out over every site
    ['site/42/dev/+/state', 0], // one site's devices
    ['site/42/#', 0],
    ['#', 0], // every topic
  ];
  for (const entry of lookups) {
    let hits = 0;
    tree.match(entry[0], () => hits++);
    entry[1] = hits;
  }
  for (const [filter, hits] of lookups) {
    const budget = hits > 10_000 ? 200 : MEASURE_MS / 2;
    const rate = measure(budget, () => tree.match(filter, () => {}));
    console.log(`  match ${filter.padEnd(24)} ${format(hits).padStart(7)} hits: ${format(rate).padStart(11)} lookups/s, ${format(rate * hits).padStart(12)} topics/s`);
  }
}

benchSubscriptionTrie();
benchTopicTree();
