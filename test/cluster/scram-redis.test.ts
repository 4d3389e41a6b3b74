// SCRAM users in Redis on two real nodes sharing one real Redis: written with
// `npx roost users add --scram-sha-256`, logged in on either node, rotated while a client is
// connected and re-authenticating; an unknown user shows the same salt on both nodes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ReasonCode } from '@roost/protocol';
import { startCluster, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { RawClient, serverClose } from '../helpers/raw-client.ts';
import { ScramClient, scramConnect } from '../helpers/scram-client.ts';

const ROOST = new URL('../../node_modules/.bin/roost', import.meta.url).pathname;
const PASSWORDS = { first: 'sam-redis-Scram1', rotated: 'sam-rotated-Scram2' };
const run = promisify(execFile);
let cluster: TestCluster;

before(async () => {
  cluster = await startCluster(2, { env: { ROOST_REDIS_USERS: 'true' } });
});
after(() => cluster.stop());

async function roost(args: string[]): Promise<void> {
  await run(process.execPath, [ROOST, ...args], { env: { ...process.env, ROOST_REDIS_URL: cluster.redis.url, ROOST_REDIS_PREFIX: cluster.prefix } });
}

function nodes(): [NodeProcess, NodeProcess] {
  return cluster.nodes as [NodeProcess, NodeProcess];
}

/** The salt of the challenge a node gives `user` (the exchange then abandoned). */
async function saltShown(node: NodeProcess, user: string): Promise<string> {
  const client = await RawClient.open(node.mqttPort, 5);
  try {
    client.send(client.connectPacket({ properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: new ScramClient('SCRAM-SHA-256', user, 'x').first() } }));
    const challenge = await client.next('auth');
    return challenge.properties!.authenticationData!.toString().split(',')[1]!;
  } finally {
    await client.end();
  }
}

async function reauthenticate(client: RawClient, password: string): Promise<void> {
  const scram = new ScramClient('SCRAM-SHA-256', 'sam', password);
  client.send({ cmd: 'auth', reasonCode: ReasonCode.ReAuthenticate, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: scram.first() } });
  const challenge = await client.next('auth');
  const data = scram.final(challenge.properties!.authenticationData!);
  client.send({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: data } });
}

test('a SCRAM user added with npx roost users on no node logs in on both; a rotated password applies at the next re-authentication', async () => {
  const [a, b] = nodes();
  await roost(['users', 'add', '--scram-sha-256', 'sam', PASSWORDS.first]);
  for (const node of [a, b]) {
    const { client, serverVerified } = await scramConnect(node.url, new ScramClient('SCRAM-SHA-256', 'sam', PASSWORDS.first), { clientId: `sam-${node.nodeId}` });
    assert.equal(serverVerified, true);
    await client.endAsync();
  }

  // Connected on b, sam re-authenticates: with the first password while it holds, then not once rotated.
  const scram = new ScramClient('SCRAM-SHA-256', 'sam', PASSWORDS.first);
  const client = await RawClient.open(b.mqttPort, 5);
  client.send(client.connectPacket({ clientId: 'sam-long-lived', properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: scram.first() } }));
  const challenge = await client.next('auth');
  client.send({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: scram.final(challenge.properties!.authenticationData!) } });
  assert.equal((await client.next('connack')).reasonCode, ReasonCode.Success);
  await reauthenticate(client, PASSWORDS.first);
  assert.equal((await client.next('auth')).reasonCode, ReasonCode.Success);
  await roost(['users', 'add', '--scram-sha-256', 'sam', PASSWORDS.rotated]);
  await reauthenticate(client, PASSWORDS.first);
  assert.equal((await serverClose(client))?.reasonCode, ReasonCode.NotAuthorized);

  const { client: rotated } = await scramConnect(a.url, new ScramClient('SCRAM-SHA-256', 'sam', PASSWORDS.rotated), { clientId: 'sam-rotated' });
  await rotated.endAsync();
});

test('an unknown user is shown the same made-up salt by both nodes (a secret shared through Redis), as a real user is', async () => {
  const [a, b] = nodes();
  assert.equal(await saltShown(a, 'nobody'), await saltShown(b, 'nobody'));
  assert.equal(await saltShown(a, 'sam'), await saltShown(b, 'sam'));
  assert.notEqual(await saltShown(a, 'nobody'), await saltShown(a, 'nobody-else'));
});

test('no node logged a password', () => {
  const text = JSON.stringify(nodes().flatMap((node) => node.lines));
  for (const password of Object.values(PASSWORDS)) assert.ok(!text.includes(password), 'a password was logged');
});
