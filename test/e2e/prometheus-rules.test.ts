// deploy/prometheus as shipped, judged by Debian's promtool: the alert rules parse and pass
// their unit tests (alerts.test.yml), and both scrape configs are valid Prometheus configs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { promtool } from '../helpers/metrics.ts';

const DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const ALERTS = [
  'RoostNodeDown',
  'RoostNodeNotReady',
  'RoostRedisUnreachable',
  'RoostSessionWriteFailures',
  'RoostClusterForwardDrops',
  'RoostHighDropRate',
  'RoostAuthFailureBurst',
];

test('deploy/prometheus/alerts.yml passes promtool check rules and has the alerts docs/deploy.md lists', async () => {
  const { code, output } = await promtool(['check', 'rules', join(DIR, 'alerts.yml')]);
  assert.equal(code, 0, output);
  const rules = parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string }> }> };
  assert.deepEqual(rules.groups.flatMap((group) => group.rules.map((rule) => rule.alert)), ALERTS);
});

test('deploy/prometheus/alerts.test.yml: promtool test rules fires each alert on its input series, and only there', async () => {
  const { code, output } = await promtool(['test', 'rules', join(DIR, 'alerts.test.yml')]);
  assert.equal(code, 0, output);
  // Every alert has a case in which it fires.
  const cases = readFileSync(join(DIR, 'alerts.test.yml'), 'utf8');
  for (const alert of ALERTS) assert.match(cases, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), alert);
});

test('deploy/prometheus/prometheus-static.yml passes promtool check config, its rule file included', async () => {
  const { code, output } = await promtool(['check', 'config', join(DIR, 'prometheus-static.yml')]);
  assert.equal(code, 0, output);
  assert.match(output, /SUCCESS: 7 rules found/);
});

test('deploy/prometheus/prometheus-kubernetes.yml: pod discovery, and the rest of it passes promtool check config', async () => {
  // Debian builds Prometheus without Kubernetes discovery ("field kubernetes_sd_configs not
  // found"), so the discovery block is checked here by shape, and promtool checks everything
  // else (relabelling included) with a file discovery in its place.
  const config = parse(readFileSync(join(DIR, 'prometheus-kubernetes.yml'), 'utf8')) as {
    scrape_configs: Array<{ job_name: string; kubernetes_sd_configs?: Array<{ role: string }>; file_sd_configs?: unknown; relabel_configs: Array<{ action?: string; regex?: string }> }>;
  };
  const job = config.scrape_configs.find((scrape) => scrape.job_name === 'roost');
  assert.ok(job, 'a job named roost (the alerts select job="roost")');
  assert.deepEqual(job.kubernetes_sd_configs?.map((sd) => sd.role), ['pod']);
  assert.ok(job.relabel_configs.some((relabel) => relabel.action === 'keep' && relabel.regex === 'roost'), 'keeps Roost pods only');
  assert.ok(job.relabel_configs.some((relabel) => relabel.action === 'keep' && relabel.regex === 'http'), 'keeps the HTTP port only');
  const dir = mkdtempSync(join(tmpdir(), 'roost-prom-config-'));
  try {
    delete job.kubernetes_sd_configs;
    job.file_sd_configs = [{ files: [join(dir, 'targets.json')] }];
    writeFileSync(join(dir, 'targets.json'), '[]');
    copyFileSync(join(DIR, 'alerts.yml'), join(dir, 'alerts.yml'));
    writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
    const { code, output } = await promtool(['check', 'config', join(dir, 'prometheus.yml')]);
    assert.equal(code, 0, output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
