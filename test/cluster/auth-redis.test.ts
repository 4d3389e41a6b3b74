// Users and ACL rules in Redis on two real nodes sharing one real Redis, changed with
// `npx roost users|acl` while clients are connected: each change applies on the other node
// within a second, without restarts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ReasonCode } from '@roost/protocol';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { connectWithInbox, end } from '../helpers/clients.ts';
import { granted, pubackCode, refusal } from '../helpers/auth.ts';

const ROOST = new URL('../../node_modules/.bin/roost', import.meta.url).pathname;
const PASSWORDS = { alice: 'alice-redis-Pa55', bob: 'bob-redis-words', changed: 'alice-changed-99' };
let cluster: TestCluster;

before(async () => {
  cluster = await startCluster(2, { env: { ROOST_REDIS_USERS: 'true', ROOST_REDIS_ACL: 'true' } });
});
after(() => cluster.stop());

/** `roost …` against this cluster's Redis and prefix; resolves when it has exited. */
async function roost(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [ROOST, ...args], {
    env: { ...process.env, ROOST_REDIS_URL: cluster.redis.url, ROOST_REDIS_PREFIX: cluster.prefix },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, stdout, stderr };
}

async function ok(args: string[]): Promise<string> {
  const result = await roost(args);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

test('a user added with npx roost users on no node at all gets in on both; a changed password and a deleted user apply at the next CONNECT everywhere', async () => {
  const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
  await ok(['users', 'add', 'alice', PASSWORDS.alice]);
  await ok(['users', 'add', 'bob', PASSWORDS.bob]);
  assert.equal(await ok(['users', 'list']), 'alice\nbob\n');
  for (const node of [a, b]) {
    const { client } = await connectWithInbox(node.url, { protocolVersion: 5, clientId: `alice-${node.nodeId}`, username: 'alice', password: PASSWORDS.alice });
    await end(client);
    assert.equal(await refusal(node.url, { protocolVersion: 5, clientId: 'x', username: 'alice', password: 'wrong-guess-1' }), ReasonCode.BadUserNameOrPassword);
    assert.equal(await refusal(node.url, { protocolVersion: 4, clientId: 'x', username: 'carol', password: 'wrong-guess-1' }), 4);
  }
  await ok(['users', 'add', 'alice', PASSWORDS.changed]);
  assert.equal(await refusal(b.url, { protocolVersion: 5, clientId: 'x', username: 'alice', password: PASSWORDS.alice }), ReasonCode.BadUserNameOrPassword);
  const { client } = await connectWithInbox(b.url, { protocolVersion: 5, clientId: 'alice-changed', username: 'alice', password: PASSWORDS.changed });
  await ok(['users', 'del', 'bob']);
  assert.equal(await refusal(a.url, { protocolVersion: 5, clientId: 'x', username: 'bob', password: PASSWORDS.bob }), ReasonCode.BadUserNameOrPassword);
  assert.equal((await roost(['users', 'del', 'bob'])).code, 1);
  await end(client);
});

test("npx roost acl set on no node at all changes a connected client's rules on the other node within a second", async () => {
  const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
  await ok(['users', 'add', 'dana', 'dana-redis-pw']);
  await ok(['acl', 'set', 'dana', 'topic readwrite a/#']);
  const { client } = await connectWithInbox(b.url, { protocolVersion: 5, clientId: 'dana-1', username: 'dana', password: 'dana-redis-pw' });
  assert.deepEqual(await granted(client, ['a/#', 'b/#']), [1, 0x87]);
  assert.equal(await pubackCode(client, 'a/x'), 0);
  const since = b.lines.length;
  await ok(['acl', 'set', 'dana', 'topic read a/#', 'topic write b/+', 'topic deny a/secret']);
  const changedAt = Date.now();
  await b.waitLog((line) => line.msg?.startsWith('ACL rules of a user changed in Redis') === true && b.lines.indexOf(line) >= since, 1000);
  assert.ok(Date.now() - changedAt < 1000);
  assert.equal(await pubackCode(client, 'a/x'), ReasonCode.NotAuthorized);
  assert.equal(await pubackCode(client, 'b/y'), 0);
  assert.deepEqual(await granted(client, ['a/secret', 'b/#']), [0x87, 0x87]);
  assert.match(await ok(['acl', 'list', 'dana']), /^user dana\ntopic read a\/#\ntopic write b\/\+\ntopic deny a\/secret\n$/);
  // Deleting the rules leaves dana with no source that covers her: nothing is allowed (no ACL file here).
  const changes = () => b.lines.filter((line, i) => i >= since && line.msg?.startsWith('ACL rules of a user changed in Redis') === true).length;
  await ok(['acl', 'del', 'dana']);
  await b.waitLog((line) => line.msg?.startsWith('ACL rules of a user changed in Redis') === true && changes() >= 2, 1000);
  assert.equal(await pubackCode(client, 'b/y'), ReasonCode.NotAuthorized);
  // Node a, with no client of dana's, followed every change too.
  const changed = (node: typeof a) => node.lines.filter((line) => line.msg?.startsWith('ACL rules of a user changed in Redis') === true).length;
  await a.waitLog(() => changed(a) >= changed(b), 1000);
  await end(client);
});

test('npx roost acl refuses lines that are not topic rules, and writes nothing', async () => {
  await ok(['acl', 'set', 'erin', 'topic read e/#']);
  for (const bad of [['user erin'], ['pattern read %u/#'], ['topic read a/#/b'], ['topic read e/#', 'bogus line']]) {
    const result = await roost(['acl', 'set', 'erin', ...bad]);
    assert.equal(result.code, 1, bad.join(' | '));
  }
  assert.equal(await ok(['acl', 'list', 'erin']), 'user erin\ntopic read e/#\n');
  assert.equal((await roost(['users', 'add'])).code, 2);
});

test('no node logged a password', () => {
  const text = JSON.stringify(cluster.nodes.flatMap((node) => node.lines));
  for (const secret of [...Object.values(PASSWORDS), 'dana-redis-pw', 'wrong-guess-1']) assert.ok(!text.includes(secret));
  assert.ok(text.includes('client refused at CONNECT'));
});
