// How clients and operators reach the chart's edges, rendered by a real helm 3.17 and read
// through the node's own loadConfig: HAProxy in front (PROXY protocol on its listener, the
// NetworkPolicy, keep alive against its timeouts), failed-login bans per source address, and
// the operations API's token from a Secret.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHART, edgeContainer, edges, nodeConfig, one, podEnvironment, render as renderChart, type EnvVar } from '../helpers/chart.ts';
import { extractHelm, type Helm } from '../helpers/helm.ts';
import { validateObject, type KubeObject } from '../helpers/kubernetes.ts';

const HAPROXY_FILES = ['haproxy.cfg', 'haproxy-passthrough.cfg'].map((name) => fileURLToPath(new URL(`../../deploy/haproxy/${name}`, import.meta.url)));
const FROM_HAPROXY = ['--set', 'haproxy.from[0].podSelector.matchLabels.app\\.kubernetes\\.io/name=haproxy'];
const TERMINATE = ['--set', 'haproxy.mode=terminate', ...FROM_HAPROXY];
const WITH_TLS = ['--set', 'tls.existingSecret=roost-tls'];

let dir: string;
let helm: Helm;

const render = (...args: string[]) => renderChart(helm, ...args);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roost-helm-access-'));
  helm = await extractHelm(dir);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function envOf(objects: KubeObject[]): EnvVar[] {
  return edgeContainer(objects).env;
}

/** The node's configuration from the rendered edges, Secrets filled in with what the test chose. */
function configOf(objects: KubeObject[], secrets: Record<string, Record<string, string>> = {}) {
  return nodeConfig(podEnvironment(envOf(objects), secrets));
}

/** Ingress rules of the edges' NetworkPolicy that open a port by this name. */
function rulesFor(objects: KubeObject[], port: string): Array<{ from?: unknown[]; ports: Array<{ port: string }> }> {
  return one(objects, 'NetworkPolicy', 'roost').spec.ingress.filter((rule: { ports: Array<{ port: string }> }) => rule.ports.some((p) => p.port === port));
}

/** HAProxy's duration syntax (a number with ms, s, m, h or d; milliseconds without), in seconds. */
function seconds(duration: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(duration);
  assert.ok(match, `not an HAProxy duration: ${duration}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] ?? 'ms']!;
  return Number(match[1]) * unit;
}

test('haproxy.mode terminate: the mqtt listener takes PROXY v2, bans stay on, and only HAProxy reaches it and /readyz', async () => {
  const objects = await render(...TERMINATE);
  const { config, warnings } = configOf(objects);
  assert.deepEqual([...config.proxyProtocol], ['mqtt']);
  assert.deepEqual(config.authBan, { after: 10, seconds: 60 }, 'every client listener carries the client address: the node default');
  assert.deepEqual(warnings.filter((w) => !w.startsWith('ROOST_ALLOW_ANONYMOUS')), []);
  const haproxy = [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'haproxy' } } }];
  const mqtt = rulesFor(objects, 'mqtt');
  assert.equal(mqtt.length, 1, 'no other rule opens the PROXY listener: a PROXY header may name any address');
  assert.deepEqual(mqtt[0]!.from, haproxy);
  assert.ok(rulesFor(objects, 'http').some((rule) => JSON.stringify(rule.from) === JSON.stringify(haproxy)), 'HAProxy checks /readyz on the HTTP port');
  for (const object of objects) await validateObject(object);
});

test('haproxy.mode passthrough: the tls listener takes PROXY v2 and is opened to HAProxy alone; the plain listener stays open to clients', async () => {
  const objects = await render('--set', 'haproxy.mode=passthrough', ...FROM_HAPROXY, ...WITH_TLS);
  const { config } = configOf(objects);
  assert.deepEqual([...config.proxyProtocol], ['tls']);
  assert.deepEqual(rulesFor(objects, 'mqtts').map((rule) => rule.ports.map((p) => p.port)), [['mqtts', 'http']]);
  assert.equal(rulesFor(objects, 'mqtt')[0]!.from, undefined, 'mqtt without PROXY: clientsFrom (empty: anywhere)');
  assert.equal(config.authBan, undefined, 'the plain listener may see shared addresses: bans off');
});

test('failed-login bans are off by default and wherever a client listener takes no PROXY header; auth.banAfter decides when set', async () => {
  const cases: Array<[string, string[], { after: number; seconds: number } | undefined]> = [
    ['defaults: a ClusterIP behind an unknown load balancer', [], undefined],
    ['HAProxy terminating, but the tls listener reachable without it', [...TERMINATE, ...WITH_TLS], undefined],
    ['every listener behind PROXY (listeners.proxyProtocol)', ['--set', 'listeners.proxyProtocol={mqtt,tls}', ...WITH_TLS], { after: 10, seconds: 60 }],
    ['set by hand', ['--set', 'auth.banAfter=3', '--set', 'auth.banSeconds=600'], { after: 3, seconds: 600 }],
    ['turned off by hand behind HAProxy', [...TERMINATE, '--set', 'auth.banAfter=0'], undefined],
  ];
  for (const [what, args, ban] of cases) {
    const objects = await render(...args);
    assert.deepEqual(configOf(objects).config.authBan, ban, what);
    // Rendered explicitly either way: the node's own default (10) would ban behind a shared address.
    assert.ok(envOf(objects).some((v) => v.name === 'ROOST_AUTH_BAN_AFTER'), what);
  }
});

test("ROOST_MAX_KEEPALIVE is 300 by default, within deploy/haproxy's timeouts; with haproxy.mode a keep alive they would cut fails the render", async () => {
  let timeout = Infinity;
  for (const file of HAPROXY_FILES) {
    const text = await readFile(file, 'utf8');
    for (const side of ['client', 'server']) {
      const match = new RegExp(`^\\s*timeout ${side} (\\S+)$`, 'm').exec(text);
      assert.ok(match, `${file}: no timeout ${side}`);
      timeout = Math.min(timeout, seconds(match[1]!));
    }
  }
  // A quiet client is closed by the broker after 1.5 x its keep alive; HAProxy must wait longer.
  const longest = Math.floor((timeout * 2) / 3);
  const defaults = await render();
  assert.equal(configOf(defaults).config.limits.maxKeepAlive, 300);
  assert.ok(1.5 * 300 < timeout, `1.5 x 300 s within HAProxy's ${timeout} s`);
  assert.equal(configOf(await render(...TERMINATE, '--set', `listeners.maxKeepAliveSeconds=${longest}`)).config.limits.maxKeepAlive, longest);
  for (const keepAlive of [longest + 1, 0]) {
    const result = await helm('template', 'roost', CHART, ...TERMINATE, '--set', `listeners.maxKeepAliveSeconds=${keepAlive}`);
    assert.notEqual(result.code, 0, `keep alive ${keepAlive} behind HAProxy rendered`);
    assert.match(result.stderr, new RegExp(`listeners\\.maxKeepAliveSeconds between 1 and ${longest}: deploy/haproxy's timeouts \\(${timeout} s\\)`));
  }
  // Without HAProxy, 0 means any keep alive: the variable is left out.
  const any = await render('--set', 'listeners.maxKeepAliveSeconds=0');
  assert.ok(!envOf(any).some((v) => v.name === 'ROOST_MAX_KEEPALIVE'));
  assert.equal(configOf(any).config.limits.maxKeepAlive, undefined);
});

test('operations API: off by default; on, ROOST_ADMIN_TOKEN comes from a Secret (the chart’s random one or the operator’s) and never appears in the Deployment', async () => {
  const defaults = await render();
  assert.ok(!envOf(defaults).some((v) => v.name === 'ROOST_ADMIN_TOKEN'));
  assert.equal(configOf(defaults).config.adminToken, undefined);
  assert.ok(!defaults.some((object) => object.kind === 'Secret' && object.metadata.name === 'roost-admin'));

  const made = await render('--set', 'adminApi.enabled=true');
  const secret = one(made, 'Secret', 'roost-admin');
  await validateObject(secret);
  const token = Buffer.from(secret.data.token, 'base64').toString('utf8');
  assert.match(token, /^[A-Za-z0-9]{40}$/);
  const reference = envOf(made).find((v) => v.name === 'ROOST_ADMIN_TOKEN')!;
  assert.deepEqual(reference.valueFrom, { secretKeyRef: { name: 'roost-admin', key: 'token' } });
  const deployment = JSON.stringify(edges(made));
  assert.ok(!deployment.includes(token) && !deployment.includes(secret.data.token), 'the token is not in the Deployment');
  assert.equal(configOf(made, { 'roost-admin': { token } }).config.adminToken, token, 'the node accepts the token');
  assert.notEqual(Buffer.from(one(await render('--set', 'adminApi.enabled=true'), 'Secret', 'roost-admin').data.token, 'base64').toString(), token, 'random, not a fixed default');

  const own = await render('--set', 'adminApi.enabled=true', '--set', 'adminApi.existingSecret=ops-token', '--set', 'adminApi.key=bearer');
  assert.ok(!own.some((object) => object.kind === 'Secret'), 'no Secret made beside the operator’s');
  assert.deepEqual(envOf(own).find((v) => v.name === 'ROOST_ADMIN_TOKEN')!.valueFrom, { secretKeyRef: { name: 'ops-token', key: 'bearer' } });
});

test("docs/deploy.md's step-by-step values file lints and renders what the walkthrough says", async () => {
  const doc = await readFile(fileURLToPath(new URL('../../docs/deploy.md', import.meta.url)), 'utf8');
  const block = /```yaml\n\s*# roost-values\.yaml\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'the roost-values.yaml block of "Install, step by step"');
  const file = join(dir, 'roost-values.yaml');
  await writeFile(file, block[1]!.replace(/^ {3}/gm, ''));
  const lint = await helm('lint', '--strict', CHART, '-f', file);
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  const objects = await render('-f', file);
  const token = 'walkthrough-token-0123456789';
  const { config, warnings } = configOf(objects, { 'roost-redis': { 'redis-password': 'pw' }, 'roost-admin': { token } });
  assert.deepEqual(warnings, []);
  assert.deepEqual([...config.proxyProtocol], ['mqtt']);
  assert.deepEqual(config.authBan, { after: 10, seconds: 60 });
  assert.equal(config.adminToken, token);
  assert.equal(config.passwordFile, '/etc/roost/passwd/passwd');
  assert.equal(new URL(config.redisUrl!).host, 'redis.data.svc:6380');
  assert.ok(!objects.some((object) => object.metadata.name === 'roost-redis'), 'no trial Redis');
  assert.deepEqual(rulesFor(objects, 'mqtt')[0]!.from, [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'haproxy' } } }]);
});

test('wrong HAProxy, ban and operations API values fail helm template, naming the value', async () => {
  const cases: Array<[string, string, RegExp]> = [
    ['haproxy:\n  mode: tcp', 'an unknown mode', /haproxy\.mode must be one of/],
    ['haproxy:\n  mode: terminate', 'HAProxy with the NetworkPolicy but no haproxy.from', /haproxy\.mode needs haproxy\.from/],
    ['haproxy:\n  mode: passthrough\n  from: [{podSelector: {}}]', 'passthrough without a certificate', /haproxy\.mode=passthrough needs tls\.existingSecret/],
    ['auth:\n  banAfter: -1', 'a negative ban count', /auth\.banAfter: Must be greater than or equal to 0/],
    ['adminApi:\n  existingSecret: ops-token', 'a token Secret with the API off', /adminApi\.enabled=true/],
  ];
  for (const [values, what, message] of cases) {
    const file = join(dir, 'bad-values.yaml');
    await writeFile(file, `${values}\n`);
    const result = await helm('template', 'roost', CHART, '-f', file);
    assert.notEqual(result.code, 0, `${what}: rendered`);
    assert.match(result.stderr, message, `${what}: ${result.stderr}`);
  }
});
