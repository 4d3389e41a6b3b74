// The image recipe, checked without a Docker engine: what it runs, what it copies, whom it runs as.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerIgnored, execForm, parseCopy, parseDockerfile, parseDockerignore, type Stage } from '../helpers/dockerfile.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const stages = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const ignore = parseDockerignore(readFileSync(join(root, '.dockerignore'), 'utf8'));
const runtime = stages.at(-1)!;
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string>; workspaces: string[] };

function args(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);
}

test("the image's entry command is npm start's node command, and runs what the build emits", () => {
  const entrypoint = args(runtime, 'ENTRYPOINT');
  assert.equal(entrypoint.length, 1, 'one ENTRYPOINT in the runtime stage');
  const command = execForm(entrypoint[0]!);
  assert.ok(command, 'exec form, so the signal goes to node itself and not to a shell');
  assert.deepEqual(command, manifest.scripts.start!.split(/\s+/));
  assert.deepEqual(args(runtime, 'CMD'), [], 'no CMD: docker run arguments become flags');
  const main = command.at(-1)!;
  assert.match(main, /^services\/edge\/dist\/.+\.js$/);
  const edgeBuild = JSON.parse(readFileSync(join(root, 'services/edge/tsconfig.build.json'), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
  const source = main.replace(`/${edgeBuild.compilerOptions.outDir}/`, `/${edgeBuild.compilerOptions.rootDir}/`).replace(/\.js$/, '.ts');
  assert.ok(existsSync(join(root, source)), `${source} compiles to ${main}`);
  assert.deepEqual(args(runtime, 'WORKDIR'), ['/app']);
});

test('every COPY source exists in the repository and is in the build context; --from names an earlier stage', () => {
  let copies = 0;
  stages.forEach((stage, index) => {
    for (const copy of args(stage, 'COPY').concat(args(stage, 'ADD')).map(parseCopy)) {
      copies++;
      if (copy.from !== undefined) {
        const earlier = stages.slice(0, index).map((s) => s.name);
        assert.ok(earlier.includes(copy.from), `COPY --from=${copy.from}: no earlier stage of that name`);
        continue;
      }
      for (const source of copy.sources) {
        assert.ok(existsSync(join(root, source)), `COPY ${source}: not in the repository`);
        assert.ok(!dockerIgnored(ignore, source), `COPY ${source}: excluded by .dockerignore`);
      }
    }
  });
  assert.ok(copies >= 3, 'the recipe copies the manifests, packages and services');
});

test('every stage builds on a Node 24 image', () => {
  for (const stage of stages) assert.match(stage.image, /^(docker\.io\/library\/)?node:24([.-]|$)/, `FROM ${stage.image}`);
  assert.ok(stages.length >= 2, 'multi-stage: the build tools stay out of the runtime image');
});

test('the runtime stage runs as a numeric non-root user', () => {
  const users = args(runtime, 'USER');
  assert.equal(users.length, 1);
  const [user, group] = users[0]!.split(':');
  // Numeric: Kubernetes' runAsNonRoot cannot verify a user name.
  assert.match(user!, /^\d+$/);
  assert.notEqual(Number(user), 0);
  if (group !== undefined) assert.notEqual(Number(group), 0);
  // Nothing after USER switches back.
  const last = runtime.instructions.findLastIndex((i) => i.keyword === 'USER');
  assert.ok(runtime.instructions.slice(last + 1).every((i) => i.keyword !== 'RUN'), 'no RUN after USER');
});

test('the build compiles with npm ci and npm run build; the runtime stage gets production dependencies only', () => {
  const build = stages.find((stage) => stage.name !== undefined && args(runtime, 'COPY').some((copy) => parseCopy(copy).from === stage.name));
  assert.ok(build, 'the runtime stage copies from a named build stage');
  const runs = args(build, 'RUN').join(' && ').split('&&').map((step) => step.trim());
  const ci = runs.indexOf('npm ci --no-audit --no-fund');
  const compile = runs.indexOf('npm run build');
  const prune = runs.findIndex((step) => /^npm ci\b.*--omit=dev/.test(step));
  assert.ok(ci >= 0 && compile > ci && prune > compile, runs.join('\n'));
  assert.ok(runs.slice(prune - 1, prune).some((step) => step === 'rm -rf node_modules'), 'dev dependencies removed before the production install');
  assert.ok(args(runtime, 'RUN').every((run) => !/npm (ci|install)/.test(run)), 'the runtime stage installs nothing itself');
  assert.ok(args(runtime, 'ENV').includes('NODE_ENV=production'));
  // npm ci needs every workspace's manifest: the build stage copies their folders whole.
  const copied = args(build, 'COPY').flatMap((copy) => parseCopy(copy).sources);
  for (const pattern of manifest.workspaces) {
    const dir = pattern.replace(/\/\*$/, '');
    for (const name of readdirSync(join(root, dir))) {
      const workspace = `${dir}/${name}`;
      assert.ok(copied.some((source) => workspace === source || workspace.startsWith(`${source}/`)), `${workspace} is not copied`);
      assert.ok(!dockerIgnored(ignore, `${workspace}/package.json`) && !dockerIgnored(ignore, `${workspace}/src/index.ts`), `${workspace} is excluded`);
    }
  }
  assert.ok(!dockerIgnored(ignore, 'packages/cluster-grpc/proto/cluster.v1.proto'), 'the gRPC proto is loaded at run time');
});

test('.dockerignore keeps node_modules, .git, build output and tests out of the build context', () => {
  for (const path of [
    'node_modules/mqtt/package.json',
    'packages/broker/node_modules/x/index.js',
    '.git/HEAD',
    'packages/broker/dist/index.js',
    'test/integration/smoke.test.ts',
    'packages/broker/test/channel.test.ts',
    'helm/roost/Chart.yaml',
  ]) {
    assert.ok(dockerIgnored(ignore, path), `${path} is in the build context`);
  }
  for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'packages/broker/src/index.ts', 'services/edge/src/main.ts']) {
    assert.ok(!dockerIgnored(ignore, path), `${path} is left out of the build context`);
  }
});
