import { parseArgs } from 'node:util';
import {
  deleteUserLine,
  formatScramEntry,
  hashPassword,
  invalidUserName,
  readPasswordFile,
  scramCredentials,
  setUserLine,
  writePasswordFile,
  type ScramMechanism,
} from '@roost/auth';
import { PasswordPrompt } from './prompt.ts';
import { UsageError } from './usage-error.ts';

export const PASSWD_USAGE = `roost passwd [-c] FILE USER          add or change USER, prompting twice for the password
roost passwd [-c] -b FILE USER PASSWORD   the same in batch mode
roost passwd -D FILE USER                 delete USER
  -c creates FILE (replacing one that exists). Lines are $7$ (PBKDF2-SHA512), as mosquitto_passwd writes them;
  --scram-sha-256 or --scram-sha-512 writes a SCRAM entry instead (MQTT 5 enhanced authentication, and plain
  passwords too; Mosquitto cannot read it).`;

/** mosquitto_passwd's command line, writing lines that Mosquitto and Roost both read. */
export async function passwd(argv: string[], out: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { c: { type: 'boolean' }, b: { type: 'boolean' }, D: { type: 'boolean' }, ...SCRAM_OPTIONS },
  });
  const scram = scramOf(values);
  const [file, user, password, ...extra] = positionals;
  const wanted = values.b ? 3 : 2;
  if (file === undefined || user === undefined || positionals.length !== wanted || extra.length > 0) throw new UsageError(PASSWD_USAGE);
  if (values.D && (values.b || values.c || scram)) throw new UsageError('-D goes alone: roost passwd -D FILE USER');
  const bad = invalidUserName(user);
  if (bad) throw new Error(bad);

  const existing = values.c ? '' : await readPasswordFile(file);
  if (existing === undefined) throw new Error(`${file} does not exist (-c creates it)`);
  if (values.D) {
    const { text, found } = deleteUserLine(existing, user);
    if (!found) throw new Error(`user ${user} is not in ${file}`);
    await writePasswordFile(file, text);
    out(`deleted ${user}`);
    return;
  }
  const secret = password ?? (await askTwice());
  if (secret === '') throw new Error('the password is empty');
  await writePasswordFile(file, setUserLine(existing, user, await entryFor(secret, scram)));
}

/** The flags that make a SCRAM entry rather than a `$7$` hash; at most one. */
export const SCRAM_OPTIONS = { 'scram-sha-256': { type: 'boolean' }, 'scram-sha-512': { type: 'boolean' } } as const;

export function scramOf(values: { 'scram-sha-256'?: boolean | undefined; 'scram-sha-512'?: boolean | undefined }): ScramMechanism | undefined {
  if (values['scram-sha-256'] && values['scram-sha-512']) throw new UsageError('one of --scram-sha-256 and --scram-sha-512');
  if (values['scram-sha-256']) return 'SCRAM-SHA-256';
  return values['scram-sha-512'] ? 'SCRAM-SHA-512' : undefined;
}

/** What goes after `user:`: a `$7$` hash, or a SCRAM entry (StoredKey and ServerKey; never the password). */
export async function entryFor(password: string, scram: ScramMechanism | undefined): Promise<string> {
  if (scram === undefined) return hashPassword(Buffer.from(password, 'utf8'));
  return formatScramEntry(await scramCredentials(scram, password));
}

/** A password typed twice (or two lines from a pipe); refused when they differ. */
export async function askTwice(): Promise<string> {
  const prompt = new PasswordPrompt();
  try {
    const first = await prompt.ask('Password: ');
    const second = await prompt.ask('Reenter password: ');
    if (first !== second) throw new Error('the passwords do not match');
    return first;
  } finally {
    prompt.close();
  }
}
