// The providers as a node wires them from its settings (run() with ROOST_* variables), in the
// documented order: password file, JWT, HTTP service; the anonymous policy after them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { hashPassword } from '@roost/auth';
import { loadConfig, run, type RunningNode } from '@roost/node';
import { ReasonCode } from '@roost/protocol';
import { connectWithInbox, end } from '../helpers/clients.ts';
import { pubackCode, refusal } from '../helpers/auth.ts';

const SECRET = 'node-wiring-secret-of-32-bytes-or-more';
let dir: string;
let service: Server;
let node: RunningNode;
let url: string;
const asked: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roost-auth-node-'));
  writeFileSync(join(dir, 'passwd'), `filed:${await hashPassword(Buffer.from('filed-pw-1'))}\n`);
  writeFileSync(join(dir, 'jwt.key'), SECRET);
  writeFileSync(join(dir, 'acl'), 'user filed\ntopic readwrite filed/#\n');
  service = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const { username } = JSON.parse(body) as { username: string | null };
      asked.push(String(username));
      res.end(JSON.stringify({ result: username?.startsWith('svc-') ? 'allow' : 'ignore' }));
    });
  });
  service.listen(0, '127.0.0.1');
  await once(service, 'listening');
  const env = {
    ROOST_MQTT_PORT: '0',
    ROOST_HOST: '127.0.0.1',
    ROOST_HTTP_PORT: '0',
    ROOST_SYS_INTERVAL: '0',
    ROOST_LOG_LEVEL: 'silent',
    ROOST_PASSWORD_FILE: join(dir, 'passwd'),
    ROOST_ACL_FILE: join(dir, 'acl'),
    ROOST_JWT_KEY_FILE: join(dir, 'jwt.key'),
    ROOST_AUTH_HTTP_URL: `http://127.0.0.1:${(service.address() as { port: number }).port}/auth`,
    ROOST_AUTH_HTTP_CACHE_SECONDS: '0',
  };
  node = await run(loadConfig([], env));
  url = `mqtt://127.0.0.1:${node.mqttPort}`;
});

after(async () => {
  await node.stop();
  service.close();
  rmSync(dir, { recursive: true, force: true });
});

test('password file, JWT and HTTP service each decide their own clients, in that order; the ACL file and a token ACL apply', async () => {
  const filed = await connectWithInbox(url, { protocolVersion: 5, clientId: 'c1', username: 'filed', password: 'filed-pw-1' });
  assert.equal(await pubackCode(filed.client, 'filed/x'), 0);
  assert.equal(await pubackCode(filed.client, 'other/x'), ReasonCode.NotAuthorized);
  assert.equal(await refusal(url, { protocolVersion: 5, clientId: 'c2', username: 'filed', password: 'wrong' }), ReasonCode.BadUserNameOrPassword);
  assert.deepEqual(asked, [], 'the password file decided; the service was not asked');

  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sub: 'dev-1', exp: now + 60, acl: { write: ['dev/1/#'] } }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
  const device = await connectWithInbox(url, { protocolVersion: 5, clientId: 'c3', username: 'dev-1', password: token });
  assert.equal(await pubackCode(device.client, 'dev/1/t'), 0);
  assert.equal(await pubackCode(device.client, 'filed/x'), ReasonCode.NotAuthorized);
  assert.deepEqual(asked, []);

  const svc = await connectWithInbox(url, { protocolVersion: 5, clientId: 'c4', username: 'svc-1', password: 'anything' });
  // The service gave no ACL: the ACL file applies, which has no rules for svc-1.
  assert.equal(await pubackCode(svc.client, 'filed/x'), ReasonCode.NotAuthorized);
  assert.equal(await refusal(url, { protocolVersion: 5, clientId: 'c5', username: 'nobody', password: 'x' }), ReasonCode.BadUserNameOrPassword);
  assert.equal(await refusal(url, { protocolVersion: 5, clientId: 'c6' }), ReasonCode.NotAuthorized);
  assert.deepEqual(asked, ['svc-1', 'nobody', 'null']);
  await end(filed.client, device.client, svc.client);
});
