import { ReasonCode } from '@roost/protocol';
import type { AuthProvider, Credentials, Logger, ProviderAnswer } from '@roost/broker';
import { parsePasswordHash, verifyPassword, type PasswordHash } from './password-hash.ts';
import { readConfigFile, WatchedFile } from './watched-file.ts';

export interface LineProblem {
  /** 1-based. */
  readonly line: number;
  /** Never the line's text: a damaged line may hold a password. */
  readonly reason: string;
}

export interface ParsedPasswordFile {
  readonly users: ReadonlyMap<string, PasswordHash>;
  readonly problems: readonly LineProblem[];
}

/**
 * Lines as `mosquitto_passwd` writes them, `user:$7$…`; blank lines and `#` comments are
 * skipped. A line that does not parse grants nothing: its user is left out.
 */
export function parsePasswordFile(text: string): ParsedPasswordFile {
  const users = new Map<string, PasswordHash>();
  const problems: LineProblem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      problems.push({ line: i + 1, reason: 'no user name before a colon' });
      continue;
    }
    const hash = parsePasswordHash(line.slice(colon + 1));
    if (hash === undefined) {
      problems.push({ line: i + 1, reason: 'not a $7$ (PBKDF2-SHA512), $6$ (SHA512) or $argon2id$ hash as mosquitto_passwd writes, nor a $scram-sha-256$ or $scram-sha-512$ entry' });
      continue;
    }
    users.set(line.slice(0, colon), hash);
  }
  return { users, problems };
}

/**
 * ROOST_PASSWORD_FILE: users and hashes in Mosquitto's format, reloaded when the file changes.
 * A user the file does not list is not this provider's (the next one may know them); a known
 * user with the wrong or no password is refused as bad credentials.
 */
export class PasswordFileProvider implements AuthProvider {
  readonly name = 'password-file';
  private users: ReadonlyMap<string, PasswordHash>;
  private readonly file: WatchedFile;
  private readonly log: Logger;

  /** Reads the file now: one that cannot be read stops the start (a ConfigError naming the setting). */
  constructor(path: string, log: Logger) {
    this.log = log;
    const text = readConfigFile(path, 'ROOST_PASSWORD_FILE');
    this.users = this.load(path, text, 'password file loaded');
    this.file = new WatchedFile(path, text, log, (next) => {
      // Connected clients stay: a password is checked at CONNECT only.
      this.users = this.load(path, next, 'password file reloaded');
    });
    this.file.watch();
  }

  get userCount(): number {
    return this.users.size;
  }

  /** The user's entry as last read, for the SCRAM provider. */
  readonly entryOf = (username: string): PasswordHash | undefined => this.users.get(username);

  async authenticate(credentials: Credentials): Promise<ProviderAnswer> {
    const { username, password } = credentials;
    if (username === undefined) return NOT_MINE;
    const hash = this.users.get(username);
    if (hash === undefined) return NOT_MINE;
    if (password === undefined || password.length === 0) return deny('no password given');
    return (await verifyPassword(hash, password)) ? { outcome: 'accept' } : deny('wrong password');
  }

  close(): void {
    this.file.close();
  }

  private load(path: string, text: string, message: string): ReadonlyMap<string, PasswordHash> {
    const { users, problems } = parsePasswordFile(text);
    for (const problem of problems) this.log.warn({ file: path, line: problem.line, reason: problem.reason }, 'password file line skipped');
    this.log.info({ file: path, users: users.size, skipped: problems.length }, message);
    return users;
  }
}

const NOT_MINE: ProviderAnswer = { outcome: 'not-mine' };

function deny(reason: string): ProviderAnswer {
  return { outcome: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword, reason };
}
