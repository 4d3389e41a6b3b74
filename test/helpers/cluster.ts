// Real cluster nodes for tests: each a separate edge process (services/edge) against one
// Redis, on ephemeral loopback ports, with JSON logs captured so tests can await events.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, startRedis, type RedisServer } from './redis.ts';
import type { MqttClient } from 'mqtt';
import { unique, type Inbox } from './clients.ts';

const MAIN = fileURLToPath(new URL('../../services/edge/src/main.ts', import.meta.url));
const START_TIMEOUT_MS = 20_000;

export interface LogLine {
  msg: string;
  level: number;
  [key: string]: unknown;
}

export class NodeProcess {
  readonly nodeId: string;
  readonly child: ChildProcess;
  readonly httpPort: number;
  mqttPort = 0;
  readonly lines: LogLine[] = [];
  private readonly waiters: Array<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  private stderr = '';
  readonly exited: Promise<number | null>;

  constructor(nodeId: string, env: Record<string, string>, httpPort: number) {
    this.nodeId = nodeId;
    this.httpPort = httpPort;
    this.child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    const killOnExit = () => this.child.kill('SIGKILL');
    process.once('exit', killOnExit);
    this.child.once('exit', () => process.off('exit', killOnExit));
    let buffered = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (text.trim() === '') continue;
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          line = { msg: text, level: 30 };
        }
        this.lines.push(line);
        for (const w of this.waiters.filter((w) => w.match(line))) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`;
  }

  /** Resolves with the first log line (past or future) that `match` accepts; rejects if the process exits first or after `ms`. */
  waitLog(match: (line: LogLine) => boolean, ms = START_TIMEOUT_MS): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.nodeId}: no matching log line within ${ms} ms\n${this.tail()}`)), ms);
      const waiter = { match, resolve: (line: LogLine) => (clearTimeout(timer), resolve(line)) };
      this.waiters.push(waiter);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.nodeId} exited (${code}) before the awaited log line\n${this.tail()}`));
      });
    });
  }

  async ready(): Promise<void> {
    const line = await this.waitLog((l) => l.msg === 'roost listening');
    this.mqttPort = line.mqttPort as number;
  }

  async readyz(): Promise<number> {
    return (await fetch(`http://127.0.0.1:${this.httpPort}/readyz`)).status;
  }

  /** SIGKILL: the node dies without a word to anyone. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: a graceful drain. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  tail(lines = 20): string {
    return [...this.lines.slice(-lines).map((l) => JSON.stringify(l)), this.stderr].join('\n');
  }
}

export interface TestCluster {
  redis: RedisServer;
  /** The key prefix (ROOST_REDIS_PREFIX) of every node of this cluster, for reading its keys. */
  prefix: string;
  nodes: NodeProcess[];
  /** Starts one more node in this cluster. */
  addNode(env?: Record<string, string>): Promise<NodeProcess>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** A Redis to share; by default the cluster starts (and stops) its own. */
  redis?: RedisServer;
  /** Extra ROOST_* settings for every node. */
  env?: Record<string, string>;
}

/** A node process for `redisUrl`; resolves once it listens (or, with `wait: false`, at once). */
export async function startNode(redisUrl: string, prefix: string, env: Record<string, string> = {}, wait = true): Promise<NodeProcess> {
  const nodeId = env.ROOST_NODE_ID ?? unique('node');
  const httpPort = await freePort();
  const node = new NodeProcess(
    nodeId,
    {
      ROOST_REDIS_URL: redisUrl,
      ROOST_REDIS_PREFIX: prefix,
      ROOST_NODE_ID: nodeId,
      ROOST_HOST: '127.0.0.1',
      ROOST_MQTT_PORT: '0',
      ROOST_CLUSTER_PORT: '0',
      ROOST_HTTP_PORT: String(httpPort),
      ROOST_SYS_INTERVAL: '0',
      ROOST_NODE_TIMEOUT: '1500',
      ROOST_LOG_LEVEL: 'info',
      ...env,
    },
    httpPort,
  );
  if (wait) {
    try {
      await node.ready();
    } catch (error) {
      // Not handed to the caller, so no one else would stop it (and its pipes would keep the test process alive).
      await node.kill();
      throw error;
    }
  }
  return node;
}

/** `n` node processes forming one cluster on a Redis of their own (or the given one). */
export async function startCluster(n: number, options: ClusterOptions = {}): Promise<TestCluster> {
  const redis = options.redis ?? (await startRedis());
  // A key prefix per cluster, so clusters sharing one Redis never see each other.
  const prefix = `${unique('test')}:`;
  const nodes: NodeProcess[] = [];
  const addNode = async (env: Record<string, string> = {}) => {
    const node = await startNode(redis.url, prefix, { ...options.env, ...env });
    nodes.push(node);
    return node;
  };
  try {
    await Promise.all(Array.from({ length: n }, () => addNode()));
  } catch (error) {
    await Promise.all(nodes.map((node) => node.kill()));
    if (!options.redis) await redis.stop();
    throw error;
  }
  return {
    redis,
    prefix,
    nodes,
    addNode,
    async stop() {
      await Promise.all(nodes.map((node) => node.kill()));
      if (!options.redis) await redis.stop();
    },
  };
}

/**
 * Routes spread to other nodes through Redis asynchronously, so a subscription made on one
 * node reaches a publisher on another a moment after SUBACK. This publishes QoS 0 probes on
 * `probeTopic` (which the subscriber's filter must match) until the subscriber sees one.
 */
export async function untilRouted(publisher: MqttClient, inbox: Inbox, probeTopic: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    await publisher.publishAsync(probeTopic, 'probe', { qos: 0 });
    try {
      await inbox.until((m) => m.topic === probeTopic, 50);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`no route for ${probeTopic} within ${ms} ms`, { cause: error });
    }
  }
}
