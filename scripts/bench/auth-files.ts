// The password file and ACL file of the security rows (issue #11), made for one run in a temp
// dir: the password file by Debian's `mosquitto_passwd -b` (PBKDF2-SHA512 at Mosquitto's
// default iterations), so Roost and Mosquitto check the very same hashes; the ACL file in
// Mosquitto's format, 100 rules, the bench user's among many others and pattern rules.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface AuthFiles {
  passwordFile: string;
  aclFile: string;
  /** Every bench client connects as this user. */
  username: string;
  password: string;
  /** Rule lines (topic and pattern) in the ACL file. */
  rules: number;
  remove(): void;
}

export const ACL_RULES = 100;
const OTHER_USERS = 17;

/**
 * The bench's topics are roost-bench/<run>/p<n> (fan-in) and roost-bench/<run>/all (fan-out),
 * read through roost-bench/<run>/# or the topic itself. The deny line inside what the bench
 * user reads means a subscription does not settle its deliveries: each one is checked (and
 * cached), the case the rows are there to measure.
 */
export function aclLines(username: string): string[] {
  const anonymous = ['topic read public/#', 'topic read public/status/+', 'topic deny public/secret', 'topic read $SYS/broker/uptime'];
  const bench = [`user ${username}`, 'topic write roost-bench/+/+', 'topic read roost-bench/#', 'topic deny roost-bench/+/secret', 'topic read alerts/+', 'topic readwrite bench-control/#', 'topic deny bench-control/admin/#'];
  const others = Array.from({ length: OTHER_USERS }, (_, i) => [`user device-${i}`, `topic readwrite sensors/device-${i}/#`, `topic read commands/device-${i}/+`, `topic write telemetry/site-${i % 5}/device-${i}`, `topic deny sensors/device-${i}/private`]).flat();
  const levels = ['inbox', 'outbox', 'state', 'config', 'logs', 'firmware', 'alarms', 'metrics', 'events', 'replies', 'requests'];
  const patterns = levels.flatMap((level, i) => [`pattern ${i % 2 === 0 ? 'read' : 'readwrite'} users/%u/${level}/#`, `pattern write clients/%c/${level}`]);
  const lines = [...anonymous, ...bench, ...others, ...patterns];
  const rules = lines.filter((line) => !line.startsWith('user ')).length;
  if (rules !== ACL_RULES) throw new Error(`the bench ACL has ${rules} rules, not ${ACL_RULES}`);
  return lines;
}

export function writeAuthFiles(): AuthFiles {
  const dir = mkdtempSync(join(tmpdir(), 'roost-bench-auth-'));
  const passwordFile = join(dir, 'passwd');
  const aclFile = join(dir, 'acl');
  const username = 'bench';
  const password = randomBytes(12).toString('hex');
  try {
    execFileSync('mosquitto_passwd', ['-c', '-b', passwordFile, username, password], { stdio: ['ignore', 'ignore', 'pipe'] });
    for (let i = 0; i < OTHER_USERS; i++) execFileSync('mosquitto_passwd', ['-b', passwordFile, `device-${i}`, randomBytes(12).toString('hex')], { stdio: ['ignore', 'ignore', 'pipe'] });
    writeFileSync(aclFile, `${aclLines(username).join('\n')}\n`);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { passwordFile, aclFile, username, password, rules: ACL_RULES, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
