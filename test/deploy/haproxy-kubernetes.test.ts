// deploy/haproxy/kubernetes.yaml against the Kubernetes schemas, deploy/haproxy/haproxy.cfg
// (the paths it reads, the port it binds, the edges it names) and the chart rendered for it
// (haproxy.mode=terminate). No Kubernetes cluster runs here: this checks how the parts fit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { NAMESPACE, edgeContainer, edges, one, render } from '../helpers/chart.ts';
import { extractHelm } from '../helpers/helm.ts';
import { selects, validateObject, type KubeObject } from '../helpers/kubernetes.ts';

const deployFile = (name: string) => fileURLToPath(new URL(`../../deploy/haproxy/${name}`, import.meta.url));
/** Where the official haproxy image's command reads its configuration. */
const IMAGE_CONFIG = '/usr/local/etc/haproxy/haproxy.cfg';

let dir: string;
let manifests: KubeObject[];
let config: string;
let chart: KubeObject[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roost-haproxy-k8s-'));
  const helm = await extractHelm(dir);
  manifests = parseAllDocuments(await readFile(deployFile('kubernetes.yaml'), 'utf8')).map((document) => document.toJS() as KubeObject);
  config = await readFile(deployFile('haproxy.cfg'), 'utf8');
  // As docs/deploy.md installs it: HAProxy's pods named in haproxy.from.
  chart = await render(helm, '--set', 'haproxy.mode=terminate', '--set', 'haproxy.from[0].podSelector.matchLabels.app\\.kubernetes\\.io/name=haproxy');
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function pod() {
  return one(manifests, 'Deployment', 'haproxy').spec.template;
}

/** The file at `path` inside the HAProxy container: the volume and item it comes from. */
function mounted(path: string): { volume: Record<string, any>; key: string } {
  const container = pod().spec.containers[0];
  const mount = container.volumeMounts.find((m: { mountPath: string }) => path.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `${path} is in no mounted volume`);
  const volume = pod().spec.volumes.find((v: { name: string }) => v.name === mount.name);
  const item = (volume.secret ?? volume.configMap).items.find((i: { path: string }) => i.path === path.slice(mount.mountPath.length + 1));
  assert.ok(item, `${path}: no item of volume ${volume.name}`);
  return { volume, key: item.key };
}

test('every object of deploy/haproxy/kubernetes.yaml is valid against the Kubernetes schemas', async () => {
  assert.deepEqual(manifests.map((object) => object.kind), ['Deployment', 'Service', 'PodDisruptionBudget']);
  for (const object of manifests) await validateObject(object);
  const spec = pod().spec;
  assert.equal(spec.securityContext.runAsNonRoot, true);
  assert.equal(spec.containers[0].securityContext.readOnlyRootFilesystem, true);
});

test('HAProxy reads haproxy.cfg from the ConfigMap and its certificate from the Secret, at the paths the file names', () => {
  const cfg = mounted(IMAGE_CONFIG);
  assert.deepEqual([cfg.volume.configMap.name, cfg.key], ['haproxy-config', 'haproxy.cfg'], 'kubectl create configmap --from-file names the key after the file');
  const crt = /^\s*bind :(\d+) ssl crt (\S+)/m.exec(config);
  assert.ok(crt, 'haproxy.cfg binds a TLS port with a certificate');
  const cert = mounted(crt[2]!);
  assert.deepEqual([cert.volume.secret.secretName, cert.key], ['haproxy-cert', 'mqtt-server.pem']);
  const port = pod().spec.containers[0].ports.find((p: { name: string }) => p.name === 'mqtts');
  assert.equal(port.containerPort, Number(crt[1]));
});

test('the Service sends MQTTS to HAProxy and keeps client addresses; the PDB covers the same pods', () => {
  const labels = pod().metadata.labels;
  const service = one(manifests, 'Service', 'haproxy');
  assert.ok(selects(service.spec.selector, labels));
  assert.deepEqual(service.spec.ports.map((p: { port: number; targetPort: string }) => [p.port, p.targetPort]), [[8883, 'mqtts']]);
  assert.equal(service.spec.externalTrafficPolicy, 'Local', 'the PROXY header carries the client’s own address only if HAProxy sees it');
  assert.ok(selects(one(manifests, 'PodDisruptionBudget', 'haproxy').spec.selector.matchLabels, labels));
});

test("haproxy.cfg's server-template names the chart's headless Service and ports, and the chart's NetworkPolicy lets these pods in", () => {
  const template = /^\s*server-template \S+ \d+ ([^.\s]+)\.([^.\s]+)\.svc\.cluster\.local:(\d+) .* port (\d+)$/m.exec(config);
  assert.ok(template, 'a server-template line with a Service name, a port and a check port');
  const [, service, namespace, mqttPort, checkPort] = template;
  assert.equal(namespace, NAMESPACE);
  assert.equal(one(chart, 'Service', service!).spec.clusterIP, 'None', `${service} is the chart's headless Service`);
  const ports = Object.fromEntries(edgeContainer(chart).ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
  assert.deepEqual([ports.mqtt, ports.http], [Number(mqttPort), Number(checkPort)]);
  const labels = pod().metadata.labels;
  const rule = one(chart, 'NetworkPolicy', 'roost').spec.ingress.find((r: { ports: Array<{ port: string }> }) => r.ports.some((p) => p.port === 'mqtt'));
  assert.deepEqual(rule.ports.map((p: { port: string }) => p.port), ['mqtt', 'http'], 'the PROXY listener and the /readyz checks');
  assert.ok(rule.from.some((peer: { podSelector?: { matchLabels: Record<string, string> } }) => peer.podSelector && selects(peer.podSelector.matchLabels, labels)));
  assert.ok(selects(one(chart, 'Service', service!).spec.selector, edges(chart).spec.template.metadata.labels));
});
