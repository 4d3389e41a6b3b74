// `npx roost passwd` against the real tools: a file it writes is read by Mosquitto itself
// (password_file, mosquitto_pub), and by Roost; it edits a file mosquitto_passwd made.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parsePasswordFile, verifyPassword } from '@roost/auth';
import { startMosquitto } from '../helpers/mosquitto.ts';

const ROOST = new URL('../../node_modules/.bin/roost', import.meta.url).pathname;
const run = promisify(execFile);

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'roost-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `roost passwd …` as an operator would, with `input` piped to its standard input. */
async function roost(args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [ROOST, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdin.end(input);
  const [code] = (await once(child, 'exit')) as [number];
  return { code, stdout, stderr };
}

async function mosquittoAccepts(port: number, user: string, password: string): Promise<boolean> {
  try {
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-u', user, '-P', password, '-t', 't', '-m', 'x', '-q', '1']);
    return true;
  } catch {
    return false;
  }
}

test("a file written by roost passwd (-c, -b, prompted, -D) is Mosquitto's password_file: its users get in with their passwords only", async () => {
  const file = join(dir, 'passwd');
  assert.equal((await roost(['passwd', '-c', '-b', file, 'alice', 'alice pw ä'])).code, 0);
  assert.equal((await roost(['passwd', file, 'bob'], 'bob-pw\nbob-pw\n')).code, 0);
  assert.equal((await roost(['passwd', '-b', file, 'carol', 'carol-pw'])).code, 0);
  assert.equal((await roost(['passwd', '-D', file, 'carol'])).code, 0);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const mosquitto = await startMosquitto([`password_file ${file}`, 'allow_anonymous false']);
  try {
    assert.equal(await mosquittoAccepts(mosquitto.port, 'alice', 'alice pw ä'), true);
    assert.equal(await mosquittoAccepts(mosquitto.port, 'bob', 'bob-pw'), true);
    assert.equal(await mosquittoAccepts(mosquitto.port, 'alice', 'bob-pw'), false);
    assert.equal(await mosquittoAccepts(mosquitto.port, 'carol', 'carol-pw'), false);
  } finally {
    await mosquitto.stop();
  }
  const { users, problems } = parsePasswordFile(readFileSync(file, 'utf8'));
  assert.deepEqual(problems, []);
  assert.deepEqual([...users.keys()], ['alice', 'bob']);
  assert.equal(await verifyPassword(users.get('bob')!, Buffer.from('bob-pw')), true);
});

test("roost passwd changes a user in a file mosquitto_passwd wrote, keeping its other lines and comments", async () => {
  const file = join(dir, 'mosquitto-made');
  execFileSync('mosquitto_passwd', ['-c', '-b', file, 'dave', 'old']);
  execFileSync('mosquitto_passwd', ['-b', file, 'erin', 'erin-pw']);
  writeFileSync(file, `# kept\n${readFileSync(file, 'utf8')}`);
  const erinLine = readFileSync(file, 'utf8').split('\n').find((line) => line.startsWith('erin:'));
  assert.equal((await roost(['passwd', '-b', file, 'dave', 'new'])).code, 0);
  const text = readFileSync(file, 'utf8');
  assert.ok(text.startsWith('# kept\ndave:$7$'));
  assert.ok(text.includes(`${erinLine}\n`));
  const { users } = parsePasswordFile(text);
  assert.equal(await verifyPassword(users.get('dave')!, Buffer.from('new')), true);
  assert.equal(await verifyPassword(users.get('dave')!, Buffer.from('old')), false);
});

test('roost passwd refuses: mismatched prompts, a missing file without -c, an unknown user to delete, bad user names, bad usage; the file is left as it was', async () => {
  const file = join(dir, 'refusals');
  assert.equal((await roost(['passwd', '-c', '-b', file, 'frank', 'pw'])).code, 0);
  const before = readFileSync(file, 'utf8');
  const mismatch = await roost(['passwd', file, 'gina'], 'one\ntwo\n');
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.stderr, /do not match/);
  assert.doesNotMatch(mismatch.stderr + mismatch.stdout, /one|two/);
  assert.equal((await roost(['passwd', '-b', join(dir, 'absent'), 'x', 'pw'])).code, 1);
  assert.equal((await roost(['passwd', '-D', file, 'nobody'])).code, 1);
  assert.equal((await roost(['passwd', '-b', file, 'a:b', 'pw'])).code, 1);
  assert.equal((await roost(['passwd', '-b', file, 'empty', ''])).code, 1);
  assert.equal((await roost(['passwd', file])).code, 2);
  assert.equal((await roost(['passwd', '-x', file, 'u'])).code, 2);
  assert.equal((await roost(['nonsense'])).code, 2);
  assert.equal(readFileSync(file, 'utf8'), before);
});

test('roost passwd --scram-sha-256 replaces a user line with a SCRAM entry; both SCRAM flags, or one with -D, are usage errors; a password SASLprep refuses is refused', async () => {
  const file = join(dir, 'scram');
  assert.equal((await roost(['passwd', '-c', '-b', file, 'hal', 'hal-pw'])).code, 0);
  assert.equal((await roost(['passwd', '-b', '--scram-sha-256', file, 'hal', 'hal-pw'])).code, 0);
  const { users } = parsePasswordFile(readFileSync(file, 'utf8'));
  assert.deepEqual([...users.keys()], ['hal']);
  assert.equal(users.get('hal')?.kind, 'scram');
  assert.equal(await verifyPassword(users.get('hal')!, Buffer.from('hal-pw')), true);
  const before = readFileSync(file, 'utf8');
  assert.equal((await roost(['passwd', '-b', '--scram-sha-256', '--scram-sha-512', file, 'ida', 'pw'])).code, 2);
  assert.equal((await roost(['passwd', '-D', '--scram-sha-512', file, 'hal'])).code, 2);
  const control = await roost(['passwd', '-b', '--scram-sha-512', file, 'ida', 'bell\u0007pw']);
  assert.equal(control.code, 1);
  assert.match(control.stderr, /cannot be used with SCRAM/);
  assert.doesNotMatch(control.stderr, /bell/, 'the password is not echoed');
  assert.equal(readFileSync(file, 'utf8'), before);
});
