// The edge process as an operator starts it with TLS and WebSocket on: the listeners from the
// ROOST_* settings, one log line per connection and per close, the connection limit, a start
// that fails, and a mistyped variable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TestCa, type IssuedCert } from '../../scripts/lib/certs.ts';
import { connect, end, unique } from '../helpers/clients.ts';
import mqtt from 'mqtt';

const MAIN = fileURLToPath(new URL('../../services/edge/src/main.ts', import.meta.url));
let ca: TestCa;
let server: IssuedCert;

before(() => {
  ca = new TestCa();
  server = ca.server();
});
after(() => ca.remove());

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

interface Edge {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
  /** The first JSON log line, past or future, matching. */
  line(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

function startEdge(env: Record<string, string>): Edge {
  const child = spawn(process.execPath, [MAIN], { env: { ...process.env, ROOST_HOST: '127.0.0.1', ROOST_HTTP_PORT: '0', ROOST_MQTT_PORT: '0', ...env } });
  const lines: Record<string, unknown>[] = [];
  const waiters: { match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.match(line)) waiters.splice(i, 1)[0]!.resolve(line);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    line: (match) => {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(() => reject(new Error(`exited; stderr: ${stderr}; lines: ${JSON.stringify(lines)}`)));
      });
    },
  };
}

test('TLS, WS and WSS from ROOST_* settings: each connection is logged once CONNECTed and once closed, without its password; /metrics counts by listener', async (t) => {
  const edge = startEdge({
    ROOST_TLS_PORT: '0',
    ROOST_TLS_CERT_FILE: server.certFile,
    ROOST_TLS_KEY_FILE: server.keyFile,
    ROOST_WS_PORT: '0',
    ROOST_WSS_PORT: '0',
    ROOST_HTTP_PORT: String(await freePort()),
  });
  t.after(() => edge.child.kill('SIGKILL'));
  const listening = await edge.line((l) => l.msg === 'roost listening');
  const ports = listening.ports as Record<string, number>;
  assert.deepEqual(Object.keys(ports).sort(), ['mqtt', 'tls', 'ws', 'wss']);

  const clientId = unique('logged');
  const client = await connect(`mqtts://127.0.0.1:${ports.tls}`, { ca: readFileSync(ca.caFile), clientId, username: 'alice', password: 'secret-pw', keepalive: 42 });
  const wsClient = await connect(`ws://127.0.0.1:${ports.ws}/mqtt`);
  const wssClient = await connect(`wss://127.0.0.1:${ports.wss}/mqtt`, { ca: readFileSync(ca.caFile) });
  const connected = await edge.line((l) => l.msg === 'client connected' && l.clientId === clientId);
  assert.equal(connected.level, 30, 'info');
  assert.equal(connected.username, 'alice');
  assert.equal(connected.listener, 'tls');
  assert.equal(connected.protocolVersion, 4);
  assert.equal(connected.keepAlive, 42);
  assert.match(String(connected.remote), /^127\.0\.0\.1:\d+$/);

  const scrape = await (await fetch(`http://127.0.0.1:${listening.httpPort}/metrics`)).text();
  for (const listener of ['tls', 'ws', 'wss']) assert.match(scrape, new RegExp(`^roost_connections\\{listener="${listener}"\\} 1$`, 'm'));
  assert.match(scrape, /^roost_connections\{listener="mqtt"\} 0$/m);

  await end(client, wsClient, wssClient);
  const closed = await edge.line((l) => l.msg === 'connection closed' && l.clientId === clientId);
  assert.equal(closed.closedBy, 'client');
  assert.equal(closed.reasonCode, 'NormalDisconnection');
  assert.equal(closed.listener, 'tls');
  assert.ok(!JSON.stringify(edge.lines).includes('secret-pw'), 'the password is never logged');
  edge.child.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
});

test('ROOST_LOG_LEVEL=warn silences the connection lines', async (t) => {
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const edge = startEdge({ ROOST_LOG_LEVEL: 'warn', ROOST_MQTT_PORT: String(mqttPort), ROOST_HTTP_PORT: String(httpPort) });
  t.after(() => edge.child.kill('SIGKILL'));
  // Nothing at info is logged, "roost listening" included, so readiness is asked for.
  await untilReady(httpPort, edge);
  const client = await connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: unique('quiet') });
  await end(client);
  edge.child.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
  assert.deepEqual(edge.lines.filter((l) => (l.level as number) < 40), [], 'nothing under warn');
});

/** Polls /readyz: a node logging at warn says nothing when it is up. */
async function untilReady(httpPort: number, edge: Edge): Promise<void> {
  for (;;) {
    if (edge.child.exitCode !== null) throw new Error(`exited: ${edge.stderr()}`);
    const status = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('a mistyped ROOST_* variable is a warning naming the closest setting', async (t) => {
  const edge = startEdge({ ROOST_TLS_CERT_FIEL: '/x.pem', ROOST_MAX_CONECTIONS: '3' });
  t.after(() => edge.child.kill('SIGKILL'));
  const typo = await edge.line((l) => String(l.msg).includes('ROOST_TLS_CERT_FIEL'));
  assert.equal(typo.level, 40);
  assert.match(String(typo.msg), /did you mean ROOST_TLS_CERT_FILE\?/);
  assert.match(String((await edge.line((l) => String(l.msg).includes('ROOST_MAX_CONECTIONS'))).msg), /did you mean ROOST_MAX_CONNECTIONS\?/);
  await edge.line((l) => l.msg === 'roost listening');
  edge.child.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
});

test('a start that fails exits at once with code 1 and one line naming the cause: a port in use, an unreadable certificate', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    const inUse = startEdge({ ROOST_MQTT_PORT: String(port), ROOST_HTTP_PORT: String(await freePort()) });
    assert.equal(await inUse.exited, 1);
    assert.equal(inUse.stderr().trim().split('\n').length, 1, inUse.stderr());
    assert.match(inUse.stderr(), new RegExp(`listener mqtt: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  } finally {
    taken.close();
  }
  const missing = `${ca.dir}/missing.pem`;
  const badCert = startEdge({ ROOST_TLS_PORT: '0', ROOST_TLS_CERT_FILE: missing, ROOST_TLS_KEY_FILE: server.keyFile });
  assert.equal(await badCert.exited, 1);
  assert.equal(badCert.stderr().trim().split('\n').length, 1, badCert.stderr());
  assert.match(badCert.stderr(), new RegExp(`listener tls: cannot read certificate file ${missing}: ENOENT`));
});

test('ROOST_MAX_CONNECTIONS: over it a v5 client gets CONNACK 0x97 and a v3.1.1 client 3, counted; a freed slot is taken again', async (t) => {
  const edge = startEdge({ ROOST_MAX_CONNECTIONS: '2', ROOST_HTTP_PORT: String(await freePort()) });
  t.after(() => edge.child.kill('SIGKILL'));
  const listening = await edge.line((l) => l.msg === 'roost listening');
  const url = `mqtt://127.0.0.1:${listening.mqttPort}`;
  const first = await connect(url);
  const second = await connect(url);
  assert.equal(await refusal(url, 5), 0x97);
  assert.equal(await refusal(url, 4), 3);
  const scrape = await (await fetch(`http://127.0.0.1:${listening.httpPort}/metrics`)).text();
  assert.match(scrape, /^roost_connections_over_limit_total 2$/m);
  await end(second);
  await edge.line((l) => l.msg === 'connection closed' && l.clientId === second.options.clientId);
  const third = await connect(url);
  await end(first, third);
  edge.child.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
});

/** The CONNACK code a refused client got. */
async function refusal(url: string, protocolVersion: 4 | 5): Promise<number> {
  const client = mqtt.connect(url, { protocolVersion, reconnectPeriod: 0, clientId: unique('over') });
  try {
    const error = await new Promise<Error & { code?: number }>((resolve) => client.once('error', (e) => resolve(e as Error & { code?: number })));
    return error.code!;
  } finally {
    client.end(true);
  }
}
