import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Why a user name cannot go in a password file: the file is `user:hash` lines. */
export function invalidUserName(user: string): string | undefined {
  if (user === '') return 'the user name is empty';
  if (user.includes(':')) return 'a user name cannot contain ":"';
  if (/[\r\n]/.test(user)) return 'a user name cannot contain a line break';
  if (user.startsWith('#')) return 'a user name cannot start with "#" (the line would be a comment)';
  return undefined;
}

/** The file's text with `user`'s line set to `hash`: changed in place, or added at the end. Other lines are kept as they are. */
export function setUserLine(text: string, user: string, hash: string): string {
  const lines = splitLines(text);
  const index = lines.findIndex((line) => userOf(line) === user);
  if (index >= 0) lines[index] = `${user}:${hash}`;
  else lines.push(`${user}:${hash}`);
  return `${lines.join('\n')}\n`;
}

/** The file's text without `user`'s lines; `found` false when it had none. */
export function deleteUserLine(text: string, user: string): { text: string; found: boolean } {
  const lines = splitLines(text);
  const kept = lines.filter((line) => userOf(line) !== user);
  return { text: kept.length === 0 ? '' : `${kept.join('\n')}\n`, found: kept.length !== lines.length };
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

function userOf(line: string): string | undefined {
  const colon = line.indexOf(':');
  return colon > 0 && !line.trimStart().startsWith('#') ? line.slice(0, colon) : undefined;
}

/** The file's text, or undefined when it does not exist. */
export async function readPasswordFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Replaces the file whole (a temporary file in its directory, then a rename), so a broker
 * watching it never reads half a file. A new file is readable by its owner only: it holds hashes.
 */
export async function writePasswordFile(path: string, text: string): Promise<void> {
  const mode = await stat(path).then(
    (s) => s.mode & 0o777,
    () => 0o600,
  );
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, text, { mode });
    await chmod(temporary, mode);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
