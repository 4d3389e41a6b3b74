// Dependencies point one way (STYLE.md): each workspace may depend only on layers below it.
// Checks package.json dependencies and every import in src/ against the allowed order, and
// that no files of a workspace import each other in a cycle (type-only imports count: a cycle
// of types is still two modules that cannot be understood apart); and that scripts/ imports
// nothing from test/ (tests may use scripts/lib, not the other way).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const layers = ['topics', 'protocol', 'session', 'broker', 'store-redis', 'cluster-grpc', 'auth', 'node', 'edge', 'cli', 'bench'];
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
  const files = sources(join(dir, 'src'));
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/from '(@roost\/[a-z-]+)'/g)) {
      const dep = match[1]!;
      if (!declared.has(dep)) problems.push(`${file.slice(root.length)} imports ${dep}, not declared in ${manifest.name}`);
    }
  }
  for (const cycle of fileCycles(files)) problems.push(`import cycle: ${cycle.map((f) => f.slice(root.length)).join(' -> ')}`);
}

/** Relative imports of a file, static, re-exported, type-only or dynamic. */
function localImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = new Set<string>();
  for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+\.ts)'/g)) found.add(resolve(dirname(file), match[1]!));
  return [...found];
}

/** Each cycle among `files` once, as the path that closes it (depth-first, three colours). */
function fileCycles(files: string[]): string[][] {
  const graph = new Map(files.map((file) => [file, localImports(file)]));
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return cycles;
}
// Tests may use scripts/lib (certificates); the scripts never reach into test/.
for (const file of sources(join(root, 'scripts'))) {
  for (const match of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
    if (resolve(dirname(file), match[1]!).startsWith(join(root, 'test') + '/')) problems.push(`${file.slice(root.length)} imports ${match[1]}: scripts do not depend on test/`);
  }
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`dependency order ok: ${layers.join(' <- ')}; no import cycles between files; scripts import nothing from test/`);
