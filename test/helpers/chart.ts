// helm/roost rendered by a real helm, and read as the kubelet and the node would read it: the
// objects parsed, the edges' environment filled in, and that environment through loadConfig.
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfig, type Config } from '@roost/node';
import type { Helm } from './helm.ts';
import type { KubeObject } from './kubernetes.ts';

export const CHART = fileURLToPath(new URL('../../helm/roost', import.meta.url));
export const NAMESPACE = 'mqtt';

/** `helm template roost helm/roost` with `args`; fails the test unless it renders, and every document parses. */
export async function render(helm: Helm, ...args: string[]): Promise<KubeObject[]> {
  const result = await helm('template', 'roost', CHART, '--namespace', NAMESPACE, ...args);
  assert.equal(result.code, 0, result.stderr);
  const objects: KubeObject[] = [];
  for (const document of parseAllDocuments(result.stdout)) {
    assert.deepEqual(document.errors, [], 'helm rendered YAML that does not parse (duplicate keys?)');
    const object = document.toJS() as KubeObject | null;
    if (object !== null) objects.push(object);
  }
  return objects;
}

export function one(objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.filter((object) => object.kind === kind && object.metadata.name === name);
  assert.equal(found.length, 1, `${kind} ${name}: ${found.length} rendered (${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')})`);
  return found[0]!;
}

export function edges(objects: KubeObject[]): KubeObject {
  return one(objects, 'Deployment', 'roost');
}

export function edgeContainer(objects: KubeObject[]) {
  return edges(objects).spec.template.spec.containers.find((c: { name: string }) => c.name === 'roost');
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}

/**
 * The environment the kubelet would give the container: downward API fields and Secret keys
 * filled in, and `$(VAR)` replaced by a variable defined earlier in the list, as Kubernetes does.
 */
export function podEnvironment(env: EnvVar[], secrets: Record<string, Record<string, string>> = {}): Record<string, string> {
  const fields: Record<string, string> = { 'metadata.name': 'roost-7d9f8-x2k4q', 'status.podIP': '10.42.3.17' };
  const out: Record<string, string> = {};
  for (const variable of env) {
    if (variable.value !== undefined) {
      out[variable.name] = variable.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => out[name] ?? ref);
    } else if (variable.valueFrom?.fieldRef) {
      out[variable.name] = fields[variable.valueFrom.fieldRef.fieldPath]!;
    } else if (variable.valueFrom?.secretKeyRef) {
      const { name, key } = variable.valueFrom.secretKeyRef;
      out[variable.name] = secrets[name]?.[key] ?? assert.fail(`secret ${name} key ${key} not given to the test`);
    } else {
      assert.fail(`env ${variable.name}: neither a value nor a field or secret reference`);
    }
  }
  return out;
}

/** The node's configuration from the rendered environment, with the warnings it would log. */
export function nodeConfig(env: Record<string, string>): { config: Config; warnings: string[] } {
  const config = loadConfig([], env);
  return { config, warnings: [...config.warnings] };
}

/** The file's volume mount and volume; fails unless the file is an item of a mounted Secret or ConfigMap. */
export function mountOf(objects: KubeObject[], file: string): { mountPath: string; volume: Record<string, any> } {
  const pod = edges(objects).spec.template.spec;
  const mount = edgeContainer(objects).volumeMounts.find((m: { mountPath: string }) => dirname(file) === m.mountPath);
  assert.ok(mount, `${file} is in no mounted volume`);
  const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
  const source = volume.secret ?? volume.configMap;
  assert.ok(source?.items?.some((item: { path: string }) => item.path === file.slice(mount.mountPath.length + 1)), `${file}: not a file of volume ${volume.name}`);
  return { mountPath: mount.mountPath, volume };
}
