// Short, bounded runs of every scenario against a real Roost broker: counts, not speed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BenchConnection, parseBrokerUrl } from '../src/client.ts';
import { residentBytes, rssCheck } from '../src/memory.ts';
import { runScenario } from '../src/scenarios.ts';
import { benchOptions, startBroker, type TestBroker } from './helpers.ts';

describe('scenarios against a Roost broker', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker.stop());

  it('fan-in delivers exactly publishers x count messages to the wildcard subscriber', async () => {
    const result = await runScenario('fan-in', benchOptions(broker.url, ['--publishers', '4', '--count', '250']));
    assert.equal(result.messages, 1000);
    assert.equal(result.published, 1000);
    assert.equal(result.lost, 0);
    assert.equal(result.errors, 0);
    assert.equal(result.workers, 2);
  });

  it('fan-out delivers every message to every subscriber', async () => {
    const result = await runScenario('fan-out', benchOptions(broker.url, ['--subscribers', '10', '--count', '100']));
    assert.equal(result.messages, 1000);
    assert.equal(result.expected, 1000);
    assert.equal(result.errors, 0);
  });

  it('qos1: every publish acked and delivered, within a small window', async () => {
    const result = await runScenario('qos1', benchOptions(broker.url, ['--count', '500', '--window', '16']));
    assert.equal(result.qos, 1);
    assert.equal(result.published, 500);
    assert.equal(result.messages, 500);
    assert.equal(result.errors, 0);
  });

  it('qos2: the four-packet handshake completes for every message', async () => {
    const result = await runScenario('qos2', benchOptions(broker.url, ['--count', '300', '--publishers', '2']));
    assert.equal(result.qos, 2);
    assert.equal(result.messages, 600);
    assert.equal(result.errors, 0);
  });

  it('latency reports p50, p99 and p99.9 at a fixed rate', async () => {
    const result = await runScenario('latency', benchOptions(broker.url, ['--rate', '200', '--duration', '1']));
    assert.equal(result.errors, 0);
    assert.ok((result.messages as number) >= 180 && (result.messages as number) <= 201, `about 200 messages, got ${String(result.messages)}`);
    for (const key of ['p50_ms', 'p99_ms', 'p999_ms']) assert.equal(typeof result[key], 'number', key);
    assert.ok((result.p50_ms as number) <= (result.p99_ms as number) && (result.p99_ms as number) <= (result.p999_ms as number));
  });

  it('idle opens every connection and reads the broker memory from /proc', async () => {
    const result = await runScenario('idle', benchOptions(broker.url, ['--count', '50', '--window', '10', '--pid', String(process.pid)]));
    assert.equal(result.connected, 50);
    assert.equal(result.errors, 0);
    assert.equal(typeof result.bytes_per_connection, 'number');
    assert.equal(typeof result.bytes_per_connection_ps, 'number');
    assert.equal(typeof result.bytes_per_connection_smaps, 'number');
    assert.ok((result.rss_after_bytes as number) > 0);
  });

  it('the RSS read by ps and from smaps_rollup agrees with VmRSS (one process, the same moment)', async () => {
    const vmRss = (await residentBytes({ pid: process.pid }))!;
    const { ps_bytes, smaps_bytes } = await rssCheck({ pid: process.pid });
    // Between the readings this process may touch a few pages (the ps child's pipe, a GC).
    for (const [name, bytes] of Object.entries({ ps_bytes, smaps_bytes })) {
      assert.ok(bytes !== undefined && Math.abs(bytes - vmRss) < 0.05 * vmRss, `${name} ${String(bytes)} vs VmRSS ${vmRss}`);
    }
  });

  it('cross-node: publishers and subscriber on separate URLs', async () => {
    // Both URLs name this one broker; the cluster case runs in bench:compare.
    const result = await runScenario('cross-node', benchOptions(broker.url, ['--pub-url', broker.url, '--sub-url', broker.url, '--publishers', '2', '--count', '200']));
    assert.equal(result.messages, 400);
    assert.equal(result.errors, 0);
  });

  it('retained lookup receives all N retained messages, and clears them after', async () => {
    const result = await runScenario('retained', benchOptions(broker.url, ['--count', '300']));
    assert.equal(result.messages, 300);
    assert.equal(result.errors, 0);
    assert.equal(typeof result.lookup_ms, 'number');
    assert.equal(await retainedUnder(broker.url, 'roost-bench/#'), 0);
  });

  it('session resume drains all N messages queued while offline', async () => {
    const result = await runScenario('session', benchOptions(broker.url, ['--count', '300']));
    assert.equal(result.messages, 300);
    assert.equal(result.errors, 0);
    assert.equal(typeof result.drain_ms, 'number');
  });

  it('a broker that is not there fails the run with a message, not a hang', async () => {
    await assert.rejects(runScenario('fan-in', benchOptions('mqtt://127.0.0.1:9', ['--count', '1', '--timeout', '3'])), /worker 0|ECONNREFUSED/);
  });
});

/** How many retained messages a fresh subscription to `filter` receives within 300 ms. */
async function retainedUnder(url: string, filter: string): Promise<number> {
  const { conn } = await BenchConnection.open(parseBrokerUrl(url), 'bench-test-retained-check');
  let received = 0;
  conn.setHandler((packet) => {
    if (packet.cmd === 'publish') received++;
  });
  await conn.subscribe(1, filter, 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await conn.close();
  return received;
}
