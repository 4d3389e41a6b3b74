// Authentication and authorization with real parts: a password file written by Debian's
// mosquitto_passwd, an ACL file in Mosquitto's format, MQTT.js and mosquitto_pub clients
// against a broker on an ephemeral loopback port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createBroker, defaultLimits, type Broker } from '@roost/broker';
import { AclFileSource, PasswordFileProvider } from '@roost/auth';
import { ReasonCode } from '@roost/protocol';
import { RecordingLogger } from '../helpers/listeners.ts';
import { connectWithInbox, end, type Inbox } from '../helpers/clients.ts';

const PASSWORDS = { alice: 'alice-Pa55!word', bob: 'b0b-secret-words', carol: 'carol-later' };

const ACL = `# anonymous clients (none are let in here)
topic read public/#

user alice
topic readwrite a/#
topic deny a/secret
topic read only/+

user bob
topic readwrite #
topic read $SYS/#

pattern readwrite users/%u/#
`;

let dir: string;
let passwordFile: string;
let aclFile: string;
let broker: Broker;
let url: string;
let passwords: PasswordFileProvider;
let rules: AclFileSource;
const log = new RecordingLogger();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roost-auth-'));
  passwordFile = join(dir, 'passwd');
  aclFile = join(dir, 'acl');
  execFileSync('mosquitto_passwd', ['-c', '-b', passwordFile, 'alice', PASSWORDS.alice]);
  execFileSync('mosquitto_passwd', ['-H', 'sha512', '-b', passwordFile, 'bob', PASSWORDS.bob]);
  writeFileSync(aclFile, ACL);
  passwords = new PasswordFileProvider(passwordFile, log);
  rules = new AclFileSource(aclFile, log);
  broker = createBroker({
    nodeId: 'auth-test',
    version: '0.0.0-test',
    logger: log,
    limits: defaultLimits,
    sysInterval: 0,
    auth: { providers: [passwords], allowAnonymous: false, rules },
  });
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' });
  url = `mqtt://127.0.0.1:${port}`;
});

after(async () => {
  passwords.close();
  rules.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
function as(user: keyof typeof PASSWORDS, options: IClientOptions = {}): Promise<{ client: MqttClient; inbox: Inbox }> {
  return connectWithInbox(url, { protocolVersion: 5, clientId: `${user}-${++counter}`, username: user, password: PASSWORDS[user], ...options });
}

/** The CONNACK code a refused client got (MQTT.js reports it as the error's code). */
async function refusal(options: IClientOptions): Promise<number> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, clientId: `refused-${++counter}`, ...options });
  try {
    const error = await new Promise<Error & { code?: number }>((resolve, reject) => {
      client.once('error', resolve);
      client.once('connect', () => reject(new Error('connected')));
    });
    return error.code!;
  } finally {
    client.end(true);
  }
}

/** The SUBACK's codes, refusals included (MQTT.js rejects a v5 SUBACK holding one). */
async function granted(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (error) {
    const packet = (error as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw error;
    return packet.granted;
  }
}

/** Publishes `forbidden` then a marker on `allowed`; once the marker arrives, the forbidden message would have too. */
async function assertNotDelivered(inbox: Inbox, publisher: MqttClient, forbidden: string, allowed: string, retain = false): Promise<void> {
  await publisher.publishAsync(forbidden, 'no', { qos: 1, retain });
  await publisher.publishAsync(allowed, 'marker', { qos: 1, retain });
  await inbox.until((m) => m.topic === allowed);
  assert.deepEqual(inbox.messages.filter((m) => m.topic === forbidden), [], `${forbidden} delivered`);
}

test('[MQTT-3.1.4-2] wrong, empty and missing passwords and unknown users get CONNACK 0x86 (v5) / 4 (v3.1.1); anonymous 0x87 / 5', async () => {
  for (const protocolVersion of [5, 4] as const) {
    const bad = protocolVersion === 5 ? ReasonCode.BadUserNameOrPassword : 4;
    const notAuthorized = protocolVersion === 5 ? ReasonCode.NotAuthorized : 5;
    assert.equal(await refusal({ protocolVersion, username: 'alice', password: 'wr0ng-guess-77' }), bad);
    assert.equal(await refusal({ protocolVersion, username: 'alice', password: '' }), bad);
    assert.equal(await refusal({ protocolVersion, username: 'alice' }), bad);
    assert.equal(await refusal({ protocolVersion, username: 'bob', password: PASSWORDS.alice }), bad);
    assert.equal(await refusal({ protocolVersion, username: 'mallory', password: PASSWORDS.alice }), bad);
    assert.equal(await refusal({ protocolVersion }), notAuthorized);
  }
  const { client } = await as('alice', { protocolVersion: 4 });
  await end(client);
  const outcomes = broker.stats.authOutcomes;
  assert.ok((outcomes.get('password-file/bad-credentials') ?? 0) >= 6);
  assert.ok((outcomes.get('none/bad-credentials') ?? 0) >= 2, 'unknown users: no provider knew them');
  assert.ok((outcomes.get('anonymous/not-authorized') ?? 0) >= 2);
  assert.ok((outcomes.get('password-file/accepted') ?? 0) >= 1);
});

test('mosquitto_pub with a wrong password is refused, with the right one it publishes (v3.1.1 and v5)', async () => {
  const port = new URL(url).port;
  const { client: bob, inbox } = await as('bob');
  await bob.subscribeAsync('users/alice/#', { qos: 1 });
  for (const version of ['mqttv311', 'mqttv5']) {
    const args = ['-h', '127.0.0.1', '-p', port, '-V', version, '-u', 'alice', '-t', `users/alice/${version}`, '-m', 'hi', '-q', '1'];
    await assert.rejects(promisify(execFile)('mosquitto_pub', [...args, '-P', 'wr0ng-guess-77']), /bad user name or password|Bad user name or password/i);
    await promisify(execFile)('mosquitto_pub', [...args, '-P', PASSWORDS.alice]);
    await inbox.until((m) => m.topic === `users/alice/${version}`);
  }
  await end(bob);
});

test('SUBSCRIBE: what no rule covers gets 0x87 (v5) / 0x80 (v3.1.1); # and only/# escape nothing; $share is authorized on its inner filter', async () => {
  const { client: alice } = await as('alice');
  const filters = ['a/#', 'a/+', 'only/+', '#', 'only/#', '+/secret', 'a/secret', '$share/g/a/#', '$share/g/b/#', 'users/alice/#', 'users/bob/#', '$SYS/#'];
  const codes = await granted(alice, filters);
  assert.deepEqual(
    filters.map((filter, i) => [filter, codes[i]]),
    [['a/#', 1], ['a/+', 1], ['only/+', 1], ['#', 0x87], ['only/#', 0x87], ['+/secret', 0x87], ['a/secret', 0x87], ['$share/g/a/#', 1], ['$share/g/b/#', 0x87], ['users/alice/#', 1], ['users/bob/#', 0x87], ['$SYS/#', 1]],
  );
  await end(alice);
  const { client: v3 } = await as('alice', { protocolVersion: 4 });
  assert.deepEqual(await granted(v3, ['a/#', '#']), [1, 0x80]);
  await end(v3);
  assert.ok((broker.stats.authzDenials.get('subscribe') ?? 0) >= 7);
});

test('a/# granted past a denied a/secret: a/secret is not delivered through # or +, live or retained', async () => {
  const { client: bob } = await as('bob');
  await bob.publishAsync('a/secret', 'retained secret', { qos: 1, retain: true });
  await bob.publishAsync('a/public', 'retained public', { qos: 1, retain: true });
  const { client: alice, inbox } = await as('alice');
  await alice.subscribeAsync(['a/#', 'a/+'], { qos: 1 });
  await inbox.until((m) => m.topic === 'a/public' && m.packet.retain);
  assert.equal(inbox.messages.filter((m) => m.topic === 'a/secret').length, 0);
  await assertNotDelivered(inbox, bob, 'a/secret', 'a/public');
  assert.ok((broker.stats.authzDenials.get('receive') ?? 0) >= 2);
  await bob.publishAsync('a/secret', '', { qos: 1, retain: true });
  await bob.publishAsync('a/public', '', { qos: 1, retain: true });
  await end(alice, bob);
});

test('PUBLISH: a denied topic gets PUBACK/PUBREC 0x87 on v5 and is dropped; v3 is acknowledged and dropped; $ topics are nobody\'s', async () => {
  const { client: bob, inbox } = await as('bob');
  await bob.subscribeAsync(['#', '$SYS/#'], { qos: 1 });
  const { client: alice } = await as('alice');
  for (const qos of [1, 2] as const) {
    await assert.rejects(alice.publishAsync('a/secret', 'x', { qos }), (error: Error & { code?: number }) => error.code === ReasonCode.NotAuthorized);
    await assert.rejects(alice.publishAsync('elsewhere', 'x', { qos }), (error: Error & { code?: number }) => error.code === ReasonCode.NotAuthorized);
  }
  await assert.rejects(bob.publishAsync('$SYS/broker/version', 'spoofed', { qos: 1 }), (error: Error & { code?: number }) => error.code === ReasonCode.NotAuthorized);
  const { client: v3 } = await as('alice', { protocolVersion: 4 });
  await v3.publishAsync('a/secret', 'v3', { qos: 1 });
  await v3.publishAsync('a/secret', 'v3', { qos: 2 });
  await assertNotDelivered(inbox, v3, 'elsewhere', 'a/fine');
  assert.deepEqual(inbox.messages.filter((m) => m.topic === 'a/secret' || m.topic.startsWith('$SYS')), []);
  assert.ok((broker.stats.authzDenials.get('publish') ?? 0) >= 7);
  await end(alice, bob, v3);
});

test('a will is authorized as a publish when it is published: one to a denied topic is dropped, an allowed one arrives', async () => {
  const { client: bob, inbox } = await as('bob');
  await bob.subscribeAsync('a/#', { qos: 1 });
  const denied = await as('alice', { will: { topic: 'a/secret', payload: Buffer.from('gone'), qos: 1, retain: false } });
  const allowed = await as('alice', { will: { topic: 'a/will', payload: Buffer.from('gone'), qos: 1, retain: false } });
  const before = broker.stats.authzDenials.get('will') ?? 0;
  denied.client.stream.destroy();
  allowed.client.stream.destroy();
  await inbox.until((m) => m.topic === 'a/will');
  assert.equal(inbox.messages.filter((m) => m.topic === 'a/secret').length, 0);
  assert.equal(broker.stats.authzDenials.get('will'), before + 1);
  await end(bob);
});

test('an ACL reload applies to connected clients; a password reload lets a new user in without dropping anyone', async () => {
  const { client: bob } = await as('bob');
  const { client: alice, inbox } = await as('alice');
  await alice.subscribeAsync('a/#', { qos: 1 });
  assert.deepEqual(await granted(alice, ['c/#']), [0x87]);
  let since = log.lines.length;
  writeFileSync(aclFile, ACL.replace('topic read only/+', 'topic read only/+\ntopic read c/#\ntopic deny a/public'));
  await log.next((line) => line.msg?.startsWith('ACL file reloaded') === true, since);
  assert.deepEqual(await granted(alice, ['c/#']), [1]);
  await assertNotDelivered(inbox, bob, 'a/public', 'a/other');

  // A damaged file keeps the rules in force.
  since = log.lines.length;
  writeFileSync(aclFile, 'topic read\n');
  await log.next((line) => line.msg === 'ACL file reload failed; keeping the previous rules', since);
  assert.deepEqual(await granted(alice, ['c/x']), [1]);
  writeFileSync(aclFile, ACL);

  since = log.lines.length;
  assert.equal(await refusal({ protocolVersion: 5, username: 'carol', password: PASSWORDS.carol }), ReasonCode.BadUserNameOrPassword);
  execFileSync('mosquitto_passwd', ['-b', passwordFile, 'carol', PASSWORDS.carol]);
  await log.next((line) => line.msg === 'password file reloaded', since);
  const { client: carol } = await as('carol');
  assert.ok(alice.connected && bob.connected, 'connected clients stay');
  await end(alice, bob, carol);
});

test('no log line holds a password', () => {
  const text = JSON.stringify(log.lines);
  for (const password of [...Object.values(PASSWORDS), 'wr0ng-guess-77']) assert.ok(!text.includes(password), `a log line holds ${password}`);
  const refused = log.lines.find((line) => line.msg === 'client refused at CONNECT' && line.fields.username === 'alice');
  assert.ok(refused, 'refusals are logged');
  assert.equal(refused.level, 'info');
  assert.ok(typeof refused.fields.clientId === 'string' && typeof refused.fields.remote === 'string');
  assert.equal(refused.fields.reasonCode, 'BadUserNameOrPassword');
});
