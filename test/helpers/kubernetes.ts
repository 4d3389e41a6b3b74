// Rendered Kubernetes objects, checked against the API's JSON schemas as the kubernetes-models
// packages ship them (core and the Prometheus Operator's CRDs).

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // The tests read into specs freely; the schemas, not the types, say what is valid.
  spec?: any;
  [field: string]: any;
}

interface Model {
  validate(): void;
}

function modelModule(apiVersion: string): string {
  if (apiVersion === 'v1') return 'kubernetes-models/v1';
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

/** Throws, naming the object and the failing fields, unless the object is valid for its kind. */
export async function validateObject(object: KubeObject): Promise<void> {
  const models = (await import(modelModule(object.apiVersion))) as Record<string, new (data: unknown) => Model>;
  const Model = models[object.kind];
  if (Model === undefined) throw new Error(`${object.apiVersion} ${object.kind}: no schema to check it against`);
  try {
    new Model(object).validate();
  } catch (error) {
    throw new Error(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`, { cause: error });
  }
}

/** Whether every label a selector asks for is on `labels`. */
export function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}
