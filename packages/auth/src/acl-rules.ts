import type { Access, ClientIdentity, ClientRules } from '@roost/broker';
import type { AclFileRules, AclRule } from './acl-parse.ts';

/** `$SYS` is readable unless a deny rule says otherwise: an implicit grant after the file's own. */
const SYS_READ: AclRule = { access: 'read', filter: '$SYS/#' };

/** A pattern's `%u` and `%c` levels, split once: each client's own value is compared in their place. */
const USERNAME = 0;
const CLIENT_ID = 1;
type RuleLevel = string | typeof USERNAME | typeof CLIENT_ID;

/**
 * Rules split into levels once, by access, and shared by every client they apply to: a CONNECT
 * under a file of 100 rules allocates one small object, not the file's rules split again.
 */
class RuleSet {
  readonly readAllow: RuleLevel[][] = [];
  readonly writeAllow: RuleLevel[][] = [];
  readonly deny: RuleLevel[][] = [];

  /** In a `pattern` line, `%u` and `%c` count as whole levels only; elsewhere they are literal. */
  constructor(rules: readonly AclRule[], pattern = false) {
    for (const { access, filter } of rules) {
      const levels: RuleLevel[] = filter.split('/');
      if (pattern) for (let i = 0; i < levels.length; i++) levels[i] = levels[i] === '%u' ? USERNAME : levels[i] === '%c' ? CLIENT_ID : levels[i]!;
      if (access === 'deny') this.deny.push(levels);
      if (access === 'read' || access === 'readwrite') this.readAllow.push(levels);
      if (access === 'write' || access === 'readwrite') this.writeAllow.push(levels);
    }
  }
}

const NO_RULES = new RuleSet([]);
const SYS_ONLY = new RuleSet([SYS_READ]);

/**
 * An ACL file compiled once (at load and at each reload): its sections and patterns split into
 * levels. Returns one client's rules: the anonymous section (no user name) or its user's
 * section, and the patterns with `%u` and `%c` standing for its own values.
 */
export function compileAclFile(file: AclFileRules): (identity: ClientIdentity) => ClientRules {
  const anonymous = new RuleSet(file.anonymous);
  const users = new Map<string, RuleSet>();
  for (const [name, rules] of file.users) users.set(name, new RuleSet(rules));
  const patterns = new RuleSet([...file.patterns, SYS_READ], true);
  return (identity) => {
    const { username } = identity;
    const own = username === undefined ? anonymous : (users.get(username) ?? NO_RULES);
    return new CompiledRules(own, patterns, levelValue(username), levelValue(identity.clientId));
  };
}

/**
 * One client's rules from an ACL file. What no rule grants is refused; a deny rule wins over
 * every grant. (AclFileSource compiles the file once; this compiles it for one client.)
 */
export function compileAclRules(file: AclFileRules, identity: ClientIdentity): ClientRules {
  return compileAclFile(file)(identity);
}

/** A list of rules as one client's (a token's or an HTTP answer's ACL), `$SYS` readable unless denied. */
export function compileRuleList(rules: readonly AclRule[]): ClientRules {
  return new CompiledRules(new RuleSet(rules), SYS_ONLY, undefined, undefined);
}

/**
 * `%u` and `%c` count only as whole levels. A client whose name or id would become a wildcard
 * or several levels (`+`, `#`, `/`) gets nothing from the pattern: `pattern readwrite %u/#`
 * must not give a user called `#` everything. A `%u` pattern grants nothing without a user name.
 * Undefined equals no topic level, so such a pattern matches nothing.
 */
function levelValue(value: string | undefined): string | undefined {
  return value === undefined || value === '' || /[+#/]/.test(value) ? undefined : value;
}

class CompiledRules implements ClientRules {
  private readonly own: RuleSet;
  private readonly patterns: RuleSet;
  private readonly username: string | undefined;
  private readonly clientId: string | undefined;

  constructor(own: RuleSet, patterns: RuleSet, username: string | undefined, clientId: string | undefined) {
    this.own = own;
    this.patterns = patterns;
    this.username = username;
    this.clientId = clientId;
  }

  allowsTopic(access: Access, topic: string): boolean {
    const levels = topic.split('/');
    if (this.any(this.own.deny, this.patterns.deny, levels, matches)) return false;
    const own = access === 'read' ? this.own.readAllow : this.own.writeAllow;
    return this.any(own, access === 'read' ? this.patterns.readAllow : this.patterns.writeAllow, levels, matches);
  }

  /** Refused when a deny rule covers the whole filter; granted when a read rule does. */
  allowsFilter(filter: string): boolean {
    const levels = filter.split('/');
    if (this.any(this.own.deny, this.patterns.deny, levels, coversLevels)) return false;
    return this.any(this.own.readAllow, this.patterns.readAllow, levels, coversLevels);
  }

  private any(own: readonly RuleLevel[][], patterns: readonly RuleLevel[][], levels: readonly string[], test: LevelTest): boolean {
    for (const rule of own) if (test(rule, levels, undefined, undefined)) return true;
    for (const rule of patterns) if (test(rule, levels, this.username, this.clientId)) return true;
    return false;
  }
}

type LevelTest = (rule: readonly RuleLevel[], levels: readonly string[], username: string | undefined, clientId: string | undefined) => boolean;

function levelAt(rule: readonly RuleLevel[], i: number, username: string | undefined, clientId: string | undefined): string | undefined {
  const level = rule[i]!;
  return level === USERNAME ? username : level === CLIENT_ID ? clientId : level;
}

/** Filter levels against topic levels (MQTT 5 4.7). */
function matches(filter: readonly RuleLevel[], topic: readonly string[], username: string | undefined, clientId: string | undefined): boolean {
  // [MQTT-4.7.2-1] a leading wildcard does not match a `$` topic.
  if (topic[0]!.charCodeAt(0) === DOLLAR && (filter[0] === '+' || filter[0] === '#')) return false;
  for (let i = 0; i < filter.length; i++) {
    const level = levelAt(filter, i, username, clientId);
    if (level === '#') return true; // [MQTT-4.7.1-2] the parent level too
    if (i >= topic.length || level === undefined) return false;
    if (level !== '+' && level !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

/** Whether every topic `filter` matches is matched by `rule`. */
export function covers(rule: readonly string[], filter: readonly string[]): boolean {
  return coversLevels(rule, filter, undefined, undefined);
}

function coversLevels(rule: readonly RuleLevel[], filter: readonly string[], username: string | undefined, clientId: string | undefined): boolean {
  if (filter[0]!.charCodeAt(0) === DOLLAR && (rule[0] === '+' || rule[0] === '#')) return false;
  for (let i = 0; i < rule.length; i++) {
    const level = levelAt(rule, i, username, clientId);
    if (level === '#') return true;
    if (i >= filter.length || level === undefined) return false;
    if (filter[i] === '#') return false;
    if (level === '+') continue;
    if (level !== filter[i]) return false;
  }
  return rule.length === filter.length;
}

const DOLLAR = 0x24;
