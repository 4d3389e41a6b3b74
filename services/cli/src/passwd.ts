import { parseArgs } from 'node:util';
import { deleteUserLine, hashPassword, invalidUserName, readPasswordFile, setUserLine, writePasswordFile } from '@roost/auth';
import { PasswordPrompt } from './prompt.ts';
import { UsageError } from './usage-error.ts';

export const PASSWD_USAGE = `roost passwd [-c] FILE USER          add or change USER, prompting twice for the password
roost passwd [-c] -b FILE USER PASSWORD   the same in batch mode
roost passwd -D FILE USER                 delete USER
  -c creates FILE (replacing one that exists). Lines are $7$ (PBKDF2-SHA512), as mosquitto_passwd writes them.`;

/** mosquitto_passwd's command line, writing lines that Mosquitto and Roost both read. */
export async function passwd(argv: string[], out: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { c: { type: 'boolean' }, b: { type: 'boolean' }, D: { type: 'boolean' } },
  });
  const [file, user, password, ...extra] = positionals;
  const wanted = values.b ? 3 : 2;
  if (file === undefined || user === undefined || positionals.length !== wanted || extra.length > 0) throw new UsageError(PASSWD_USAGE);
  if (values.D && (values.b || values.c)) throw new UsageError('-D goes alone: roost passwd -D FILE USER');
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
  await writePasswordFile(file, setUserLine(existing, user, await hashPassword(Buffer.from(secret, 'utf8'))));
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
