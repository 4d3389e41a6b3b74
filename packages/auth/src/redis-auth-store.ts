import { randomBytes } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { parseAclFile, type AclRule } from './acl-parse.ts';
import { parsePasswordHash } from './password-hash.ts';
import { invalidUserName } from './password-file-edit.ts';

/** Published on `<prefix>auth:changed` after each change: every node re-reads that user. */
export interface AuthChange {
  readonly kind: 'user' | 'acl';
  readonly user: string;
}

/**
 * Users and per-user ACL rules in Redis, under the node's prefix: `<prefix>auth:users` (user →
 * hash as a password file line holds it, `$7$…`) and `<prefix>auth:acl` (user → rule lines,
 * `topic [access] <filter>`, one a line). Each write is followed by a message on
 * `<prefix>auth:changed`, so every node applies it at once. `npx roost users|acl` and the
 * providers share this one definition of the layout.
 */
export class RedisAuthStore {
  readonly redis: Redis;
  readonly usersKey: string;
  readonly aclKey: string;
  readonly channel: string;
  readonly scramSecretKey: string;

  /**
   * A connection for the store: commands fail fast instead of queueing while Redis is away.
   * ioredis is loaded here, not at import: an embedded node never pays for it.
   */
  static async connection(url: string, options: RedisOptions = {}): Promise<Redis> {
    const { Redis } = await import('ioredis');
    return new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 5000, ...options });
  }

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.usersKey = `${prefix}auth:users`;
    this.aclKey = `${prefix}auth:acl`;
    this.channel = `${prefix}auth:changed`;
    this.scramSecretKey = `${prefix}auth:scram-secret`;
  }

  async setUser(user: string, hash: string): Promise<void> {
    const bad = invalidUserName(user);
    if (bad) throw new Error(bad);
    if (parsePasswordHash(hash) === undefined) throw new Error('not a password hash');
    await this.redis.hset(this.usersKey, user, hash);
    await this.announce({ kind: 'user', user });
  }

  /** Whether the user was there. */
  async deleteUser(user: string): Promise<boolean> {
    const removed = await this.redis.hdel(this.usersKey, user);
    await this.announce({ kind: 'user', user });
    return removed > 0;
  }

  async userHash(user: string): Promise<string | undefined> {
    return (await this.redis.hget(this.usersKey, user)) ?? undefined;
  }

  async users(): Promise<string[]> {
    return (await this.redis.hkeys(this.usersKey)).sort();
  }

  /** Replaces the user's rules; lines that do not parse are refused, none is written. */
  async setAcl(user: string, lines: readonly string[]): Promise<void> {
    const text = lines.join('\n');
    const parsed = parseAclLines(text);
    if (typeof parsed === 'string') throw new Error(parsed);
    await this.redis.hset(this.aclKey, user, text);
    await this.announce({ kind: 'acl', user });
  }

  async deleteAcl(user: string): Promise<boolean> {
    const removed = await this.redis.hdel(this.aclKey, user);
    await this.announce({ kind: 'acl', user });
    return removed > 0;
  }

  async acl(user: string): Promise<string | undefined> {
    return (await this.redis.hget(this.aclKey, user)) ?? undefined;
  }

  async acls(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.aclKey)));
  }

  /**
   * A random secret shared by every node under this prefix (`<prefix>auth:scram-secret`): the
   * first node to ask makes it, the others read it.
   */
  async sharedSecret(): Promise<Buffer> {
    await this.redis.set(this.scramSecretKey, randomBytes(32).toString('base64'), 'NX');
    const secret = await this.redis.get(this.scramSecretKey);
    if (secret === null) throw new Error(`${this.scramSecretKey} vanished`);
    return Buffer.from(secret, 'base64');
  }

  private async announce(change: AuthChange): Promise<void> {
    await this.redis.publish(this.channel, JSON.stringify(change));
  }
}

/**
 * One user's rules as Redis holds them: `topic` lines of the ACL file format (`user` and
 * `pattern` lines belong to the file, not to one user). The reason, as a string, when a line
 * does not parse: a user's rules are taken whole or not at all.
 */
export function parseAclLines(text: string): AclRule[] | string {
  const { rules, problems } = parseAclFile(text);
  if (problems.length > 0) return `line ${problems[0]!.line}: ${problems[0]!.reason}`;
  if (rules.users.size > 0 || rules.patterns.length > 0) return 'only topic lines: [read|write|readwrite|deny] <filter>';
  return [...rules.anonymous];
}

export function parseAuthChange(message: string): AuthChange | undefined {
  try {
    const change = JSON.parse(message) as Partial<AuthChange>;
    if ((change.kind === 'user' || change.kind === 'acl') && typeof change.user === 'string') return { kind: change.kind, user: change.user };
  } catch {
    // A message from something else on the channel: ignored.
  }
  return undefined;
}
