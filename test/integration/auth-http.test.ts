// The HTTP auth provider against a real node:http service started by the test: allow (with an
// ACL), deny, ignore (the next provider decides), a hanging service, garbage, 500, the cache,
// and the circuit breaker opening and closing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBroker, defaultLimits, type AuthProvider, type Broker } from '@roost/broker';
import { HttpAuthProvider, PasswordFileProvider, hashPassword, type HttpAuthOptions } from '@roost/auth';
import { ReasonCode } from '@roost/protocol';
import { RecordingLogger } from '../helpers/listeners.ts';
import { connectWithInbox, end } from '../helpers/clients.ts';
import { assertNoSecretLogged, granted, pubackCode, refusal } from '../helpers/auth.ts';

const log = new RecordingLogger();
const secrets: string[] = [];
/** What the service received, in order. */
const requests: Array<Record<string, unknown>> = [];
/** Set by a test: how the service answers a user. */
let behaviour: (body: Record<string, unknown>, res: ServerResponse) => void;
let service: Server;
let serviceUrl: string;
let dir: string;
const cleanups: Array<() => Promise<void> | void> = [];

function answer(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(body);
}

/** The default service: user names say what to answer. */
function byUserName(body: Record<string, unknown>, res: ServerResponse): void {
  const user = String(body.username);
  if (user.startsWith('allow')) answer(res, 200, JSON.stringify({ result: 'allow', acl: user === 'allow-acl' ? { readwrite: ['mine/#'] } : undefined }));
  else if (user.startsWith('deny')) answer(res, 200, JSON.stringify({ result: 'deny' }));
  else if (user.startsWith('ignore') || user === 'filed' || body.username === null) answer(res, 200, JSON.stringify({ result: 'ignore' }));
  else if (user.startsWith('hang')) return; // never answers
  else if (user.startsWith('garbage')) answer(res, 200, '<html>not json</html>');
  else if (user.startsWith('bad-acl')) answer(res, 200, JSON.stringify({ result: 'allow', acl: { everything: ['#'] } }));
  else answer(res, 500, '{}');
}

before(async () => {
  behaviour = byUserName;
  service = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      const body = JSON.parse(text) as Record<string, unknown>;
      requests.push(body);
      behaviour(body, res);
    });
  });
  service.listen(0, '127.0.0.1');
  await once(service, 'listening');
  serviceUrl = `http://127.0.0.1:${(service.address() as { port: number }).port}/auth`;
  dir = mkdtempSync(join(tmpdir(), 'roost-http-auth-'));
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  service.closeAllConnections();
  service.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A broker asking the service first, then a password file that knows `filed`. */
async function start(options: Partial<HttpAuthOptions> = {}): Promise<{ url: string; http: HttpAuthProvider; broker: Broker }> {
  const http = new HttpAuthProvider({ url: serviceUrl, timeoutMs: 300, cacheTtlMs: 0, ...options }, log);
  const file = join(dir, `passwd-${cleanups.length}`);
  writeFileSync(file, `filed:${await hashPassword(Buffer.from('filed-pw-7'))}\n`);
  const passwords = new PasswordFileProvider(file, log);
  const broker = createBroker({
    nodeId: 'http-auth-test',
    version: '0.0.0-test',
    logger: log,
    limits: defaultLimits,
    sysInterval: 0,
    auth: { providers: [http as AuthProvider, passwords], allowAnonymous: false },
  });
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(async () => {
    passwords.close();
    await broker.stop();
  });
  return { url: `mqtt://127.0.0.1:${port}`, http, broker };
}

let counter = 0;
function password(): string {
  const value = `http-secret-${++counter}-${Math.random().toString(36).slice(2)}`;
  secrets.push(value);
  return value;
}

function attempt(url: string, username: string | undefined, protocolVersion: 4 | 5 = 5) {
  return refusal(url, { protocolVersion, clientId: `http-${++counter}`, username, password: username === undefined ? undefined : password() });
}

test('allow lets the client in with the ACL of the answer; the service is sent the client id, user name, password, address, listener and CN', async () => {
  const { url } = await start();
  const pw = password();
  const { client, inbox } = await connectWithInbox(url, { protocolVersion: 5, clientId: 'acl-client', username: 'allow-acl', password: pw });
  const sent = requests.at(-1)!;
  assert.deepEqual(sent, { clientId: 'acl-client', username: 'allow-acl', password: pw, address: '127.0.0.1', listener: 'mqtt', certificateCN: null });
  assert.deepEqual(await granted(client, ['mine/#', 'yours/#']), [1, 0x87]);
  assert.equal(await pubackCode(client, 'yours/x'), ReasonCode.NotAuthorized);
  assert.equal(await pubackCode(client, 'mine/x'), 0);
  await inbox.until((m) => m.topic === 'mine/x');
  await end(client);
});

test('deny: CONNACK 0x86 (v5) / 4 (v3.1.1); ignore passes to the next provider (the password file), which decides', async () => {
  const { url, broker } = await start();
  assert.equal(await attempt(url, 'deny-me'), ReasonCode.BadUserNameOrPassword);
  assert.equal(await attempt(url, 'deny-me', 4), 4);
  const { client } = await connectWithInbox(url, { protocolVersion: 5, clientId: 'filed-client', username: 'filed', password: 'filed-pw-7' });
  await end(client);
  assert.equal(requests.at(-1)!.username, 'filed', 'the service was asked first and ignored it');
  assert.equal(await refusal(url, { protocolVersion: 5, clientId: `x-${++counter}`, username: 'filed', password: password() }), ReasonCode.BadUserNameOrPassword);
  // Without a user name the service is asked too; its ignore leaves the anonymous policy.
  assert.equal(await attempt(url, undefined), ReasonCode.NotAuthorized);
  assert.ok((broker.stats.authOutcomes.get('http/bad-credentials') ?? 0) >= 2);
  assert.ok((broker.stats.authOutcomes.get('password-file/accepted') ?? 0) >= 1);
});

test('a service that hangs, answers garbage, a bad ACL or 500 refuses with 0x88 Server Unavailable (v3.1.1: 3); others are not held up', async () => {
  const { url, broker } = await start({ breakerFailures: 100 });
  const started = Date.now();
  const hanging = attempt(url, 'hang-1');
  // While that CONNECT waits for the service, another client gets in.
  const { client } = await connectWithInbox(url, { protocolVersion: 5, clientId: 'quick', username: 'allow-quick', password: password() });
  assert.equal(await hanging, ReasonCode.ServerUnavailable);
  assert.ok(Date.now() - started < 3000, 'the timeout bounds the wait');
  assert.equal(await attempt(url, 'garbage-1'), ReasonCode.ServerUnavailable);
  assert.equal(await attempt(url, 'bad-acl-1'), ReasonCode.ServerUnavailable);
  assert.equal(await attempt(url, 'status-500'), ReasonCode.ServerUnavailable);
  assert.equal(await attempt(url, 'status-500', 4), 3);
  assert.ok((broker.stats.authOutcomes.get('http/error') ?? 0) >= 5);
  await end(client);
});

test('recent verdicts are cached, keyed on the whole credentials: the same CONNECT again asks nobody, another password asks', async () => {
  const { url } = await start({ cacheTtlMs: 60_000 });
  const pw = password();
  const before = requests.length;
  for (let i = 0; i < 3; i++) {
    const { client } = await connectWithInbox(url, { protocolVersion: 5, clientId: 'cached', username: 'allow-cached', password: pw });
    await end(client);
  }
  assert.equal(requests.length - before, 1);
  const { client } = await connectWithInbox(url, { protocolVersion: 5, clientId: 'cached', username: 'allow-cached', password: password() });
  await end(client);
  assert.equal(requests.length - before, 2);
  assert.equal(await attempt(url, 'deny-cached'), ReasonCode.BadUserNameOrPassword);
});

test('the circuit breaker: failures in a row open it (CONNECTs refused 0x88 at once, no request), after the open time one trial closes it', async () => {
  let now = 1_000_000;
  const { url, http } = await start({ breakerFailures: 3, breakerOpenMs: 5_000, now: () => now });
  for (let i = 0; i < 3; i++) assert.equal(await attempt(url, 'status-500'), ReasonCode.ServerUnavailable);
  assert.equal(http.breakerState, 'open');
  const before = requests.length;
  assert.equal(await attempt(url, 'allow-while-open'), ReasonCode.ServerUnavailable);
  assert.equal(requests.length, before, 'no request while open');
  now += 5_000;
  assert.equal(http.breakerState, 'half-open');
  // A failed trial opens it again.
  assert.equal(await attempt(url, 'status-500'), ReasonCode.ServerUnavailable);
  assert.equal(http.breakerState, 'open');
  now += 5_000;
  const { client } = await connectWithInbox(url, { protocolVersion: 5, clientId: 'after', username: 'allow-after', password: password() });
  assert.equal(http.breakerState, 'closed');
  await end(client);
  assert.ok(log.lines.some((line) => line.msg === 'auth service answers again; circuit closed'));
});

test('no log line holds a password sent to the service', () => {
  assert.ok(log.lines.some((line) => line.msg === 'client refused at CONNECT' && line.fields.provider === 'http'));
  assertNoSecretLogged(log.lines, secrets);
});
