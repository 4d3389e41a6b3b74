// A throwaway Redis per call, for tests that need a real one (cluster mode stores, integration).
// Prefers a container when a Docker engine answers; otherwise a `redis-server` from PATH, which
// is what runs on machines without Docker and in CI (it installs the redis-server package).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  /** `redis://host:port` */
  url: string;
  /** Stops the server and starts a fresh, empty one on the same address (no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const REDIS_IMAGE = 'redis:7-alpine';
const RUNTIME_PROBE_MS = 3_000;
const START_TIMEOUT_MS = 10_000;

/** Starts a Redis of its own for the caller: a container if Docker is reachable, else redis-server. */
export async function startRedis(options: { port?: number } = {}): Promise<RedisServer> {
  if (options.port === undefined && (await containerRuntimeReachable())) return startContainer();
  try {
    return await startLocalServer(options.port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new Error(
      'startRedis: no Redis available for tests. Either start a Docker engine (testcontainers runs ' +
        `${REDIS_IMAGE}) or install redis-server on PATH (e.g. apt-get install redis-server).`,
      { cause: error },
    );
  }
}

async function containerRuntimeReachable(): Promise<boolean> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), RUNTIME_PROBE_MS);
  });
  const probe = getContainerRuntimeClient().then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function startContainer(): Promise<RedisServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(REDIS_IMAGE)
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .withStartupTimeout(START_TIMEOUT_MS * 6) // a first run pulls the image
    .start();
  return {
    url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
    restart: async () => {
      await container.restart();
    },
    stop: async () => {
      await container.stop();
    },
  };
}

/** A `redis-server` on `fixedPort`, or on a free port. */
export async function startLocalServer(fixedPort?: number): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'roost-redis-'));
  // Another process can take the free port between probe and bind; a fresh port usually wins.
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    try {
      let child = await spawnRedis(port, dir);
      return {
        url: `redis://127.0.0.1:${port}`,
        restart: async () => {
          await stopLocalServer(child);
          child = await spawnRedis(port, dir);
        },
        stop: async () => {
          await stopLocalServer(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      if (attempt >= 3 || fixedPort !== undefined || !(error instanceof PortTakenError)) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}

class PortTakenError extends Error {
  override readonly name = 'PortTakenError';
}

async function spawnRedis(port: number, dir: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) done(resolve);
    };
    const done = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      settle();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => done(() => reject(error)));
    child.once('exit', (code) =>
      done(() => reject(output.includes('Address already in use') ? new PortTakenError(output) : new Error(`redis-server exited with ${code}:\n${output}`))),
    );
  });
  try {
    await ready;
    await ping(port);
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
  child.stdout!.resume(); // keep draining so a chatty server never blocks on a full pipe
  child.stderr!.resume();
  return child;
}

async function stopLocalServer(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}

/** Resolves once the server answers PING with PONG; bounded so a wedged server fails the test. */
async function ping(port: number): Promise<void> {
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.setTimeout(START_TIMEOUT_MS);
  try {
    await once(socket, 'connect');
    socket.write('PING\r\n');
    let reply = '';
    while (!reply.includes('\r\n')) {
      const [chunk] = (await Promise.race([once(socket, 'data'), once(socket, 'timeout').then(() => [undefined])])) as [Buffer | undefined];
      if (!chunk) throw new Error(`redis-server on port ${port} did not answer PING`);
      reply += chunk.toString();
    }
    if (!reply.startsWith('+PONG')) throw new Error(`redis-server on port ${port} answered PING with ${reply.trim()}`);
  } finally {
    socket.destroy();
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address for a free port probe');
  return address.port;
}
