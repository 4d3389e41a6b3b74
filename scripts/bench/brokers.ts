// The brokers bench:compare measures, each started on free loopback ports and stopped after:
// Roost single-node, a Roost 2-node cluster on its own redis-server, Mosquitto (from PATH)
// with a generated config, Aedes in memory, and Aedes in Redis mode on two processes; for the
// TLS and WebSocket rows, Roost with tls and ws listeners, Mosquitto with a TLS listener and
// Aedes over ws, all with one server certificate made for the run.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AEDES_MAIN = fileURLToPath(new URL('../aedes-server.ts', import.meta.url));
const START_TIMEOUT_MS = 20_000;
/** Queued messages per offline session: high everywhere, so the session scenario measures the drain, not a queue limit. */
export const MAX_QUEUED = 1_000_000;

export interface RunningBroker {
  name: string;
  /** Clients connect here (a cluster's first node). */
  url: string;
  /** A cluster's second node: subscribers of the cross-node scenarios connect here. */
  secondUrl?: string;
  /** The process whose memory the idle scenario reads (a cluster's first node). */
  pid: number;
  /** Roost: that process's /metrics, for the heap split of the idle scenario. */
  metricsUrl?: string;
  settings: string;
  /** The TLS and WebSocket listeners' URLs (mqtts://, ws://…/mqtt), on the edge variants. */
  transportUrls?: Partial<Record<Transport, string>>;
  stop(): Promise<void>;
}

/** How the TLS and WebSocket rows reach a broker, besides plain TCP. */
export type Transport = 'tls' | 'ws';

/** The server certificate every TLS listener of a run presents (for 127.0.0.1), and its CA. */
export interface ServerCertificate {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not listen on ${port} within ${START_TIMEOUT_MS} ms`);
}

function started(command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  return child;
}

async function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Node's arguments from package.json's `start` script ("node <flags> <entry>"): the bench runs
 * the process `npm start` runs, compiled, with the same V8 flags. `npm run build` comes first.
 */
export function roostStartArgs(): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const [command, ...args] = manifest.scripts.start!.trim().split(/\s+/);
  if (command !== 'node') throw new Error(`package.json start script does not run node: ${manifest.scripts.start}`);
  return args.map((arg) => (arg.startsWith('-') ? arg : join(ROOT, arg)));
}

async function roostNode(env: Record<string, string>, children: ChildProcess[] = []): Promise<{ child: ChildProcess; port: number; httpPort?: number }> {
  const port = await freePort();
  const httpPort = await freePort();
  const child = started(process.execPath, roostStartArgs(), {
    ROOST_HOST: '127.0.0.1',
    ROOST_MQTT_PORT: String(port),
    ROOST_HTTP_PORT: String(httpPort),
    ROOST_SYS_INTERVAL: '0',
    ROOST_LOG_LEVEL: 'warn',
    ROOST_MAX_QUEUED_MESSAGES: String(MAX_QUEUED),
    ...env,
  });
  children.push(child);
  await waitForPort(port, child, 'roost');
  return { child, port, httpPort };
}

export async function startRoost(): Promise<RunningBroker> {
  const { child, port, httpPort } = await roostNode({});
  const settings = `node ${roostStartArgs().map((arg) => arg.replace(ROOT, '')).join(' ')} (as npm start); ROOST_MAX_QUEUED_MESSAGES=${MAX_QUEUED}, ROOST_SYS_INTERVAL=0, ROOST_LOG_LEVEL=warn, other settings default`;
  return { name: 'roost', url: `mqtt://127.0.0.1:${port}`, pid: child.pid!, metricsUrl: `http://127.0.0.1:${httpPort}/metrics`, settings, stop: () => stopped(child) };
}

/** Roost as above with its tls listener (the run's certificate, other TLS settings default) and a ws listener on /mqtt. */
export async function startRoostEdge(cert: ServerCertificate): Promise<RunningBroker> {
  const [tlsPort, wsPort] = [await freePort(), await freePort()];
  const env = { ROOST_TLS_PORT: String(tlsPort), ROOST_TLS_CERT_FILE: cert.certFile, ROOST_TLS_KEY_FILE: cert.keyFile, ROOST_WS_PORT: String(wsPort) };
  const { child, port, httpPort } = await roostNode(env);
  try {
    await waitForPort(tlsPort, child, 'roost tls listener');
    await waitForPort(wsPort, child, 'roost ws listener');
  } catch (error) {
    await stopped(child);
    throw error;
  }
  return {
    name: 'roost',
    url: `mqtt://127.0.0.1:${port}`,
    transportUrls: { tls: `mqtts://127.0.0.1:${tlsPort}`, ws: `ws://127.0.0.1:${wsPort}/mqtt` },
    pid: child.pid!,
    metricsUrl: `http://127.0.0.1:${httpPort}/metrics`,
    settings: 'as roost, plus ROOST_TLS_PORT with ROOST_TLS_CERT_FILE/ROOST_TLS_KEY_FILE (no client certificates, TLSv1.2 minimum, Node\'s default ciphers) and ROOST_WS_PORT (path /mqtt)',
    stop: () => stopped(child),
  };
}

/** What a secured process checks: the run's password file and ACL file (scripts/bench/auth-files.ts). */
export interface SecurityFiles {
  passwordFile: string;
  aclFile: string;
}

/** Roost as above with ROOST_PASSWORD_FILE and ROOST_ACL_FILE (anonymous clients then refused). */
export async function startRoostSecured(files: SecurityFiles): Promise<RunningBroker> {
  const { child, port, httpPort } = await roostNode({ ROOST_PASSWORD_FILE: files.passwordFile, ROOST_ACL_FILE: files.aclFile });
  const settings = 'as roost, plus ROOST_PASSWORD_FILE (written by mosquitto_passwd) and ROOST_ACL_FILE (100 rules); anonymous clients refused (the default with a provider)';
  return { name: 'roost', url: `mqtt://127.0.0.1:${port}`, pid: child.pid!, metricsUrl: `http://127.0.0.1:${httpPort}/metrics`, settings, stop: () => stopped(child) };
}

async function startRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'roost-bench-redis-'));
  const child = started('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no']);
  await waitForPort(port, child, 'redis-server');
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      await stopped(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type NodeStarter = (env: Record<string, string>, children: ChildProcess[]) => Promise<{ child: ChildProcess; port: number; httpPort?: number }>;

/** `count` (2 or more) processes of one broker on a redis-server of their own; a half-started set is stopped, not leaked. */
async function nodesOnRedis(name: string, settings: string, start: NodeStarter, env: (redisUrl: string, node: number) => Record<string, string>, count = 2): Promise<RunningBroker> {
  const redis = await startRedis();
  const children: ChildProcess[] = [];
  const nodes: Array<Awaited<ReturnType<NodeStarter>>> = [];
  try {
    for (let node = 1; node <= count; node++) nodes.push(await start(env(redis.url, node), children));
  } catch (error) {
    await Promise.all(children.map(stopped));
    await redis.stop();
    throw error;
  }
  const [first, second] = nodes as [Awaited<ReturnType<NodeStarter>>, Awaited<ReturnType<NodeStarter>>];
  return {
    name,
    url: `mqtt://127.0.0.1:${first.port}`,
    secondUrl: `mqtt://127.0.0.1:${second.port}`,
    pid: first.child.pid!,
    ...(first.httpPort ? { metricsUrl: `http://127.0.0.1:${first.httpPort}/metrics` } : {}),
    settings,
    stop: async () => {
      await Promise.all(nodes.map((node) => stopped(node.child)));
      await redis.stop();
    },
  };
}

function roostClusterEnv(url: string, node: number): Record<string, string> {
  return { ROOST_REDIS_URL: url, ROOST_REDIS_PREFIX: 'bench:', ROOST_CLUSTER_PORT: '0', ROOST_NODE_ID: `bench-${node}` };
}

export function startRoostCluster(): Promise<RunningBroker> {
  return nodesOnRedis('roost-cluster', 'two edge nodes on one redis-server (no persistence), as roost otherwise', roostNode, roostClusterEnv);
}

/** Three nodes: a SUBACK for a new filter waits for both other nodes to apply its route. */
export function startRoostCluster3(): Promise<RunningBroker> {
  return nodesOnRedis('roost-cluster-3', 'three edge nodes on one redis-server (no persistence), as roost otherwise', roostNode, roostClusterEnv, 3);
}

const MOSQUITTO_SETTINGS = ['allow_anonymous true', `max_queued_messages ${MAX_QUEUED}`, 'persistence false', 'log_dest none'];

export async function startMosquitto(): Promise<RunningBroker> {
  const port = await freePort();
  const config = [`listener ${port} 127.0.0.1`, ...MOSQUITTO_SETTINGS];
  return mosquittoWith(config, [port], {
    url: `mqtt://127.0.0.1:${port}`,
    settings: `mosquitto.conf: ${MOSQUITTO_SETTINGS.join('; ')} (max_inflight_messages default 20)`,
  });
}

/**
 * Mosquitto as above with a second listener, TLS with the run's certificate (its WebSocket
 * listener does not open on these machines: the rows compare Aedes over ws instead).
 */
export async function startMosquittoTls(cert: ServerCertificate): Promise<RunningBroker> {
  const [port, tlsPort] = [await freePort(), await freePort()];
  // Started as root, Mosquitto drops to its own user before it reads the key, which then sits
  // in a directory only root may read.
  const asRoot = process.getuid?.() === 0 ? ['user root'] : [];
  const tls = [`listener ${tlsPort} 127.0.0.1`, `certfile ${cert.certFile}`, `keyfile ${cert.keyFile}`];
  return mosquittoWith([`listener ${port} 127.0.0.1`, ...tls, ...MOSQUITTO_SETTINGS, ...asRoot], [port, tlsPort], {
    url: `mqtt://127.0.0.1:${port}`,
    transportUrls: { tls: `mqtts://127.0.0.1:${tlsPort}` },
    settings: `as mosquitto, plus a TLS listener (certfile, keyfile; TLS settings default)${asRoot.length > 0 ? '; user root' : ''}`,
  });
}

/** Mosquitto as above with the same password file and ACL file, anonymous clients refused. */
export async function startMosquittoSecured(files: SecurityFiles): Promise<RunningBroker> {
  const port = await freePort();
  // As for the TLS variant: as root it would drop to its own user, who cannot read the run's temp dir.
  const asRoot = process.getuid?.() === 0 ? ['user root'] : [];
  const secured = [`password_file ${files.passwordFile}`, `acl_file ${files.aclFile}`, 'allow_anonymous false'];
  const config = [`listener ${port} 127.0.0.1`, ...MOSQUITTO_SETTINGS.filter((line) => !line.startsWith('allow_anonymous')), ...secured, ...asRoot];
  return mosquittoWith(config, [port], {
    url: `mqtt://127.0.0.1:${port}`,
    settings: `as mosquitto, plus password_file (the same file), acl_file (the same file), allow_anonymous false${asRoot.length > 0 ? '; user root' : ''}`,
  });
}

async function mosquittoWith(config: string[], ports: number[], broker: Pick<RunningBroker, 'url' | 'settings' | 'transportUrls'>): Promise<RunningBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'roost-bench-mosquitto-'));
  writeFileSync(join(dir, 'mosquitto.conf'), `${config.join('\n')}\n`);
  const child = started('mosquitto', ['-c', join(dir, 'mosquitto.conf')]);
  const stop = async () => {
    await stopped(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) await waitForPort(port, child, 'mosquitto');
  } catch (error) {
    await stop();
    throw error;
  }
  return { name: 'mosquitto', ...broker, pid: child.pid!, stop };
}

async function aedesProcess(env: Record<string, string>, children: ChildProcess[] = []): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = started(process.execPath, [AEDES_MAIN], { AEDES_PORT: String(port), ...env });
  children.push(child);
  await waitForPort(port, child, 'aedes');
  return { child, port };
}

export async function startAedes(): Promise<RunningBroker> {
  const { child, port } = await aedesProcess({});
  return { name: 'aedes', url: `mqtt://127.0.0.1:${port}`, pid: child.pid!, settings: 'Aedes.createBroker() defaults: in-memory persistence and mqemitter', stop: () => stopped(child) };
}

/** Aedes in memory with a WebSocket server beside its TCP one (scripts/aedes-server.ts). */
export async function startAedesWs(): Promise<RunningBroker> {
  const wsPort = await freePort();
  const { child, port } = await aedesProcess({ AEDES_WS_PORT: String(wsPort) });
  try {
    await waitForPort(wsPort, child, 'aedes ws');
  } catch (error) {
    await stopped(child);
    throw error;
  }
  return {
    name: 'aedes',
    url: `mqtt://127.0.0.1:${port}`,
    transportUrls: { ws: `ws://127.0.0.1:${wsPort}/mqtt` },
    pid: child.pid!,
    settings: 'as aedes, plus the ws library\'s WebSocketServer on /mqtt (subprotocol mqtt, no compression), each socket through createWebSocketStream into broker.handle',
    stop: () => stopped(child),
  };
}

export function startAedesRedis(): Promise<RunningBroker> {
  const settings = 'two processes on one redis-server: aedes-persistence-redis (maxSessionDelivery 1000000) and mqemitter-redis';
  return nodesOnRedis('aedes-redis', settings, aedesProcess, (url) => ({ AEDES_REDIS_URL: url }));
}
