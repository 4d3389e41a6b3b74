import { parseSharedFilter } from '@roost/topics';

/** Who a client is once authenticated: what its rules are compiled for. */
export interface ClientIdentity {
  readonly clientId: string;
  /** Undefined for an anonymous client. */
  readonly username: string | undefined;
  /** The provider that accepted the client (`anonymous` when none was asked). */
  readonly provider: string;
}

export type Access = 'read' | 'write';

/** One client's rules, compiled once from a rule source for its identity. Pure and synchronous. */
export interface ClientRules {
  /** Whether the client may read (receive) or write (publish) this topic name. */
  allowsTopic(access: Access, topic: string): boolean;
  /**
   * Whether the client may subscribe to this filter (already stripped of `$share/{group}/`).
   * A filter allowed here may still match topics `allowsTopic` refuses: each delivery of
   * those is checked (ClientPermissions.canReceive).
   */
  allowsFilter(filter: string): boolean;
}

/**
 * Where rules come from (an ACL file; later Redis, token claims). The broker owns this port;
 * adapters in packages/auth implement it.
 */
export interface RuleSource {
  readonly name: string;
  /** Changes on every reload: rules compiled under an older generation are compiled again. */
  readonly generation: number;
  compile(identity: ClientIdentity): ClientRules;
}

/** A receive cache this large is dropped and started again, so a client reading many topics stays bounded. */
const RECEIVE_CACHE_LIMIT = 4096;
/**
 * The publish cache is smaller: a device publishes to a few topics of its own, and the cache
 * keeps its topic strings alive. A client writing to more topics than this pays a map insert
 * besides the rule check, and drops the cache each time it fills.
 */
export const PUBLISH_CACHE_LIMIT = 64;
/**
 * Longer topics (up to 64 KiB each) are checked against the rules every time, not kept: with
 * this bound a full publish cache holds at most ~32 KiB of topics, a receive cache ~2 MiB.
 */
export const CACHED_TOPIC_MAX_LENGTH = 256;

/**
 * What one client may do, as the packet handlers ask it: publish, subscribe, receive. The rules
 * are compiled at CONNECT and again after their source reloads; publish and receive decisions
 * are cached per topic, so a fan-out to many subscribers under an ACL costs a map lookup each,
 * and so does each PUBLISH of a device to its usual topics (instead of its rules, 100 in a
 * large file). A reload's new generation drops both caches with the old rules.
 */
export class ClientPermissions {
  readonly identity: ClientIdentity;
  private readonly source: RuleSource | undefined;
  private rules: ClientRules | undefined;
  private generation = 0;
  /** Made by the first delivery checked against rules: an empty Map costs ~190 bytes per client. */
  private receiveCache: Map<string, boolean> | undefined;
  /** Made by the first PUBLISH checked against rules. */
  private publishCache: Map<string, boolean> | undefined;

  /** Without a source every topic is allowed, except publishing to `$` topics. */
  constructor(identity: ClientIdentity, source?: RuleSource) {
    this.identity = identity;
    this.source = source;
    this.compiled();
  }

  /** Topics starting with `$` are the server's ($SYS): no client publishes there [MQTT-4.7.2-1]. */
  canPublish(topic: string): boolean {
    if (topic.charCodeAt(0) === DOLLAR) return false;
    const rules = this.compiled();
    if (rules === undefined) return true;
    return decide((this.publishCache ??= new Map()), PUBLISH_CACHE_LIMIT, topic, rules, 'write');
  }

  /** A shared subscription is authorized on its inner filter. */
  canSubscribe(filter: string): boolean {
    const rules = this.compiled();
    if (rules === undefined) return true;
    return rules.allowsFilter(parseSharedFilter(filter)?.filter ?? filter);
  }

  canReceive(topic: string): boolean {
    const rules = this.compiled();
    if (rules === undefined) return true;
    return decide((this.receiveCache ??= new Map()), RECEIVE_CACHE_LIMIT, topic, rules, 'read');
  }

  /** The rules for the source's current generation: a reload applies to connected clients too. */
  private compiled(): ClientRules | undefined {
    const { source } = this;
    if (source === undefined) return undefined;
    if (this.rules === undefined || this.generation !== source.generation) {
      this.generation = source.generation;
      this.rules = source.compile(this.identity);
      this.receiveCache?.clear();
      this.publishCache?.clear();
    }
    return this.rules;
  }
}

/** The cached decision for `topic`, or the rules' (then cached; a full cache is dropped first). */
function decide(cache: Map<string, boolean>, limit: number, topic: string, rules: ClientRules, access: Access): boolean {
  if (topic.length > CACHED_TOPIC_MAX_LENGTH) return rules.allowsTopic(access, topic);
  let allowed = cache.get(topic);
  if (allowed === undefined) {
    allowed = rules.allowsTopic(access, topic);
    if (cache.size >= limit) cache.clear();
    cache.set(topic, allowed);
  }
  return allowed;
}

const DOLLAR = 0x24;
