// Dependencies point one way (STYLE.md): each workspace may depend only on layers below it.
// Checks package.json dependencies and every import in src/ against the allowed order.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const layers = ['topics', 'protocol', 'session', 'broker', 'store-redis', 'cluster-grpc', 'node', 'edge', 'bench'];
const root = new URL('..', import.meta.url).pathname;
const workspaces = [
  ...readdirSync(join(root, 'packages')).map((name) => join(root, 'packages', name)),
  ...readdirSync(join(root, 'services')).map((name) => join(root, 'services', name)),
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const problems: string[] = [];
for (const dir of workspaces) {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string> };
  const self = manifest.name.replace('@roost/', '');
  const rank = layers.indexOf(self);
  if (rank < 0) {
    problems.push(`${manifest.name}: not placed in the layer order of scripts/check-deps.ts`);
    continue;
  }
  const declared = new Set(Object.keys(manifest.dependencies ?? {}));
  for (const dep of declared) {
    if (!dep.startsWith('@roost/')) continue;
    const depRank = layers.indexOf(dep.replace('@roost/', ''));
    if (depRank < 0 || depRank >= rank) problems.push(`${manifest.name} depends on ${dep}, which is not below it`);
  }
  for (const file of sources(join(dir, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/from '(@roost\/[a-z-]+)'/g)) {
      const dep = match[1]!;
      if (!declared.has(dep)) problems.push(`${file.slice(root.length)} imports ${dep}, not declared in ${manifest.name}`);
    }
  }
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`dependency order ok: ${layers.join(' <- ')}`);
