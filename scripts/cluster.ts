// `npm run cluster`: a local cluster to try by hand. Starts redis-server (from PATH) unless
// ROOST_REDIS_URL is set, then ROOST_CLUSTER_SIZE edge nodes (default 3) with their logs
// prefixed by node id. Ctrl-C stops everything.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const size = Number(process.env.ROOST_CLUSTER_SIZE ?? 3);
const redisPort = Number(process.env.REDIS_PORT ?? 6380);
const mqttBase = Number(process.env.MQTT_BASE_PORT ?? 1883);
const main = fileURLToPath(new URL('../services/edge/src/main.ts', import.meta.url));
const children: ChildProcess[] = [];

function prefixed(child: ChildProcess, name: string): void {
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${name.padEnd(7)}| ${line}\n`));
  }
}

let redisUrl = process.env.ROOST_REDIS_URL;
let redisDir: string | undefined;
if (!redisUrl) {
  redisDir = mkdtempSync(join(tmpdir(), 'roost-cluster-redis-'));
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', redisDir, '--appendonly', 'yes'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  redis.on('error', (error) => {
    process.stderr.write(`cannot start redis-server (apt-get install redis-server, or set ROOST_REDIS_URL): ${error.message}\n`);
    process.exit(1);
  });
  prefixed(redis, 'redis');
  children.push(redis);
  redisUrl = `redis://127.0.0.1:${redisPort}`;
}

for (let i = 0; i < size; i++) {
  const node = spawn(process.execPath, [main], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ROOST_REDIS_URL: redisUrl,
      ROOST_NODE_ID: `node-${i + 1}`,
      ROOST_HOST: process.env.ROOST_HOST ?? '127.0.0.1',
      ROOST_MQTT_PORT: String(mqttBase + i),
      ROOST_HTTP_PORT: String(8081 + i),
      ROOST_CLUSTER_PORT: String(7946 + i),
    },
  });
  prefixed(node, `node-${i + 1}`);
  children.push(node);
}

process.stdout.write(`cluster: ${size} nodes on MQTT ${mqttBase}..${mqttBase + size - 1}, Redis ${redisUrl}; Ctrl-C stops\n`);

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  // Nodes first (they drain and leave the registry), Redis last.
  const nodes = children.slice(redisDir ? 1 : 0);
  let left = nodes.length;
  const done = () => {
    if (redisDir) {
      children[0]!.once('exit', () => rmSync(redisDir!, { recursive: true, force: true }));
      children[0]!.kill('SIGTERM');
    }
  };
  if (left === 0) done();
  for (const node of nodes) {
    node.once('exit', () => --left === 0 && done());
    node.kill('SIGTERM');
  }
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
