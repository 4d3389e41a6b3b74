import type { Redis } from 'ioredis';
import type { ClientIdentity, ClientRules, Logger } from '@roost/broker';
import type { AclRule } from './acl-parse.ts';
import { compileRuleList } from './acl-rules.ts';
import { parseAclLines, parseAuthChange, type RedisAuthStore } from './redis-auth-store.ts';
import type { PartialRuleSource } from './rule-chain.ts';

/**
 * ROOST_REDIS_ACL: per-user rules held in Redis, applied live on every node. All users' rules
 * are held in memory (rules are compiled synchronously, at each check after a change); a
 * message on the change channel re-reads that user's rules and bumps the generation, so
 * connected clients get them at their next publish, subscribe or delivery. After the
 * subscription is lost and regained, everything is read again: changes may have been missed.
 */
export class RedisAclSource implements PartialRuleSource {
  readonly name = 'redis-acl';
  private readonly store: RedisAuthStore;
  private readonly subscriber: Redis;
  private readonly log: Logger;
  private rules = new Map<string, readonly AclRule[]>();
  private version = 1;

  /** `subscriber` is a connection of its own: a subscribed ioredis connection runs no other commands. */
  constructor(store: RedisAuthStore, subscriber: Redis, log: Logger) {
    this.store = store;
    this.subscriber = subscriber;
    this.log = log;
  }

  /** Subscribes, then reads every user's rules; resolves once both are done. */
  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.store.channel) return;
      const change = parseAuthChange(message);
      if (change?.kind === 'acl') void this.reloadUser(change.user);
    });
    let subscribed = false;
    this.subscriber.on('ready', () => {
      // ioredis subscribes again by itself after a reconnection; what changed meanwhile is read again.
      if (subscribed) void this.reloadAll();
    });
    await this.subscriber.subscribe(this.store.channel);
    subscribed = true;
    await this.reloadAll();
  }

  get generation(): number {
    return this.version;
  }

  covers(identity: ClientIdentity): boolean {
    return identity.username !== undefined && this.rules.has(identity.username);
  }

  compile(identity: ClientIdentity): ClientRules {
    return compileRuleList((identity.username !== undefined && this.rules.get(identity.username)) || []);
  }

  private async reloadAll(): Promise<void> {
    try {
      const next = new Map<string, readonly AclRule[]>();
      for (const [user, text] of await this.store.acls()) next.set(user, this.parse(user, text));
      this.rules = next;
      this.version++;
      this.log.info({ users: next.size }, 'ACL rules read from Redis');
    } catch (error) {
      this.log.error({ err: error }, 'reading ACL rules from Redis failed; keeping the previous ones');
    }
  }

  private async reloadUser(user: string): Promise<void> {
    try {
      const text = await this.store.acl(user);
      if (text === undefined) this.rules.delete(user);
      else this.rules.set(user, this.parse(user, text));
      this.version++;
      this.log.info({ user }, 'ACL rules of a user changed in Redis; connected clients get them');
    } catch (error) {
      this.log.error({ err: error, user }, 'reading a user\'s ACL rules from Redis failed; keeping the previous ones');
    }
  }

  /** Rules that do not parse (written around the CLI) grant nothing: skipping a deny would grant what it denied. */
  private parse(user: string, text: string): readonly AclRule[] {
    const rules = parseAclLines(text);
    if (typeof rules !== 'string') return rules;
    this.log.error({ user, reason: rules }, 'ACL rules in Redis refused; that user gets no rules until they are fixed');
    return [];
  }
}
