// Debian's real Prometheus scraping a real 3-node cluster on real Redis: targets found through
// file-based discovery on loopback, scraped every second, the shipped alert rules loaded. The
// test reads everything back through Prometheus's HTTP API, and checks every query of the
// Grafana dashboard (and every alert) against the names a live node exports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { connectWithInbox, connect, end, unique } from '../helpers/clients.ts';
import { startCluster, untilRouted, type TestCluster } from '../helpers/cluster.ts';
import { Scrape, promtool, scrapeText } from '../helpers/metrics.ts';
import { exportedNames, metricNames } from '../helpers/promql.ts';
import { freePort } from '../helpers/redis.ts';

const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
const WAIT_MS = 20_000;
/** Written by Prometheus itself for every target, not by the node. */
const PROMETHEUS_SERIES = new Set(['up']);

let cluster: TestCluster;
let dir: string;
let prometheus: ChildProcess;
let api: string;
let prometheusLog = '';

before(async () => {
  cluster = await startCluster(3);
  dir = mkdtempSync(join(tmpdir(), 'roost-prometheus-'));
  const targets = join(dir, 'targets.json');
  writeFileSync(targets, JSON.stringify([{ targets: cluster.nodes.map((node) => `127.0.0.1:${node.httpPort}`) }]));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [join(DEPLOY, 'prometheus/alerts.yml')],
      scrape_configs: [{ job_name: 'roost', scrape_timeout: '900ms', file_sd_configs: [{ files: [targets], refresh_interval: '1s' }] }],
    }),
  );
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prometheus.stderr!.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
  const killOnExit = () => prometheus.kill('SIGKILL');
  process.once('exit', killOnExit);
  prometheus.once('exit', () => process.off('exit', killOnExit));
  await until('Prometheus ready', async () => (await fetch(`${api}/-/ready`).catch(() => undefined))?.status === 200);
});

after(async () => {
  if (prometheus.exitCode === null && prometheus.signalCode === null) {
    const exited = new Promise((resolve) => prometheus.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Polls `check` until it holds; bounded, with Prometheus's log in the failure. */
async function until(what: string, check: () => Promise<boolean>, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\n${prometheusLog.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

async function apiGet<T>(path: string, params: Record<string, string>): Promise<{ status: string; data: T; error?: string }> {
  const response = await fetch(`${api}${path}?${new URLSearchParams(params)}`);
  return (await response.json()) as { status: string; data: T; error?: string };
}

async function query(expr: string): Promise<VectorSample[]> {
  const answer = await apiGet<{ resultType: string; result: VectorSample[] }>('/api/v1/query', { query: expr });
  if (answer.status !== 'success') throw new Error(`${expr}: ${answer.error}`);
  return answer.data.result;
}

async function scalar(expr: string): Promise<number | undefined> {
  const [sample] = await query(expr);
  return sample === undefined ? undefined : Number(sample.value[1]);
}

test('Prometheus finds the 3 nodes through file discovery and scrapes each of them up', async () => {
  const addresses = cluster.nodes.map((node) => `127.0.0.1:${node.httpPort}`).sort();
  await until('every node up', async () => {
    const up = await query('up{job="roost"}');
    return up.length === 3 && up.every((sample) => sample.value[1] === '1');
  });
  assert.deepEqual((await query('up{job="roost"}')).map((sample) => sample.metric.instance).sort(), addresses);
});

test('roost_messages_received_total, as Prometheus stores it, rises after a cross-node publish', async () => {
  const [a, b] = cluster.nodes;
  let before: number | undefined;
  await until('a first scrape of every node', async () => (before = await scalar('sum(roost_messages_received_total) and count(roost_messages_received_total) == 3')) !== undefined);
  const topic = unique('prom/t');
  const { client: sub, inbox } = await connectWithInbox(b!.url, { protocolVersion: 5 });
  await sub.subscribeAsync(topic, { qos: 1 });
  const pub = await connect(a!.url, { protocolVersion: 5 });
  await untilRouted(pub, inbox, topic);
  await pub.publishAsync(topic, 'counted', { qos: 1 });
  await inbox.until((message) => message.payload.toString() === 'counted');
  await until('the publish in Prometheus', async () => ((await scalar('sum(roost_messages_received_total)')) ?? 0) > before!);
  // The forward that carried it shows in the publisher's node's histograms.
  const scrape = await Scrape.of(a!.httpPort);
  assert.ok(scrape.value('roost_cluster_forward_latency_seconds_count') > 0, 'a forwarded batch was acknowledged and timed');
  assert.ok(scrape.value('roost_cluster_forward_batch_messages_count') > 0, 'a batch was counted');
  await end(pub, sub);
});

test('every node sees the 3 nodes (roost_cluster_nodes) and times its Redis commands (roost_redis_command_duration_seconds)', async () => {
  for (const node of cluster.nodes) {
    const scrape = await Scrape.of(node.httpPort);
    assert.equal(scrape.value('roost_cluster_nodes'), 3, node.nodeId);
    assert.ok(scrape.value('roost_redis_command_duration_seconds_count') > 0, node.nodeId);
    assert.equal(scrape.value('roost_redis_command_duration_seconds_bucket', { le: '+Inf' }), scrape.value('roost_redis_command_duration_seconds_count'), 'the +Inf bucket holds every observation');
  }
});

test('a cluster node\'s /metrics passes promtool check metrics', async () => {
  for (const node of cluster.nodes) {
    const { code, output } = await promtool(['check', 'metrics'], await scrapeText(node.httpPort));
    assert.equal(code, 0, `${node.nodeId}: ${output}`);
  }
});

test('the shipped alert rules run in this Prometheus against the cluster\'s series without an evaluation error, none firing', async () => {
  type Rule = { name: string; health: string; lastError?: string; state: string; lastEvaluation: string };
  let rules: Rule[] = [];
  await until('every rule evaluated', async () => {
    const answer = await apiGet<{ groups: Array<{ rules: Rule[] }> }>('/api/v1/rules', {});
    rules = answer.data.groups.flatMap((group) => group.rules);
    return rules.length === 7 && rules.every((rule) => !rule.lastEvaluation.startsWith('0001'));
  });
  for (const rule of rules) {
    assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`);
    assert.equal(rule.state, 'inactive', `${rule.name} fires on a healthy cluster`);
  }
});

/** Every PromQL expression of the dashboard: its panels' targets and its template variables' queries. */
function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/roost.json'), 'utf8')) as {
    panels: Array<{ targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ type: string; query?: { query: string } }> };
  };
  const targets = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
  // label_values(metric, label): the metric is what it reads.
  const variables = dashboard.templating.list.filter((variable) => variable.type === 'query').map((variable) => /^label_values\((.+),\s*\w+\)$/.exec(variable.query!.query)![1]!);
  return [...targets, ...variables];
}

/** The names `exprs` read that neither the node nor Prometheus itself exports. */
function unexported(exprs: string[], exported: Set<string>): string[] {
  return exprs.flatMap((expr) => [...metricNames(expr)].filter((name) => !exported.has(name) && !PROMETHEUS_SERIES.has(name)).map((name) => `${name} (in ${expr})`));
}

test('the check of names finds a misspelled metric, a histogram read without its suffix, and no label, function or variable', () => {
  const exported = exportedNames('# TYPE roost_a_seconds histogram\n# TYPE roost_b_total counter\n');
  const ok = 'histogram_quantile(0.99, sum by (le, instance) (rate(roost_a_seconds_bucket{instance=~"$instance",le!="x"}[$__rate_interval]))) / on (instance) group_left sum without (reason) (increase(roost_b_total[5m] offset 1h)) > bool 0.5';
  assert.deepEqual(unexported([ok], exported), []);
  assert.deepEqual(metricNames('rate(roost_x_total[1m]) + roost_a_seconds'), new Set(['roost_x_total', 'roost_a_seconds']));
  assert.equal(unexported(['rate(roost_x_total[1m]) + roost_a_seconds'], exported).length, 2);
});

test('deploy/grafana/roost.json: every query names only metrics a live cluster node exports, and Prometheus accepts it', async () => {
  const exprs = dashboardExpressions();
  assert.ok(exprs.length >= 30, `the dashboard has its queries (${exprs.length})`);
  const exported = exportedNames(await scrapeText(cluster.nodes[0]!.httpPort));
  assert.deepEqual(unexported(exprs, exported), []);
  for (const expr of exprs) {
    // As Grafana sends it: the node variable set to All, the rate interval to four scrapes.
    const sent = expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '4s');
    const answer = await apiGet<unknown>('/api/v1/query', { query: sent });
    assert.equal(answer.status, 'success', `${expr}: ${answer.error}`);
  }
  // A panel for each part the dashboard promises.
  const all = exprs.join('\n');
  for (const name of ['roost_clients_connected', 'roost_messages_received_total', 'roost_messages_dropped_total', 'roost_cluster_forward_latency_seconds_bucket', 'roost_cluster_nodes', 'roost_redis_command_duration_seconds_bucket']) {
    assert.ok(all.includes(name), name);
  }
});

test('deploy/prometheus/alerts.yml: every expression names only metrics a live cluster node exports', async () => {
  const rules = parse(readFileSync(join(DEPLOY, 'prometheus/alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ expr: string }> }> };
  const exprs = rules.groups.flatMap((group) => group.rules.map((rule) => rule.expr));
  assert.deepEqual(unexported(exprs, exportedNames(await scrapeText(cluster.nodes[0]!.httpPort))), []);
});
