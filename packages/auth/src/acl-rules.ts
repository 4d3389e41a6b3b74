import type { Access, ClientIdentity, ClientRules } from '@roost/broker';
import type { AclFileRules, AclRule } from './acl-parse.ts';

/** `$SYS` is readable unless a deny rule says otherwise: an implicit grant after the file's own. */
const SYS_READ: AclRule = { access: 'read', filter: '$SYS/#' };

/**
 * One client's rules from an ACL file, its filters split into levels once: the anonymous
 * section (no user name) or its user's section, the patterns with `%u` and `%c` filled in.
 * What no rule grants is refused; a deny rule wins over every grant.
 */
export function compileAclRules(file: AclFileRules, identity: ClientIdentity): ClientRules {
  const { username } = identity;
  const own = username === undefined ? file.anonymous : (file.users.get(username) ?? []);
  const rules: AclRule[] = [...own];
  for (const pattern of file.patterns) {
    const filter = substitute(pattern.filter, identity);
    if (filter !== undefined) rules.push({ access: pattern.access, filter });
  }
  return compileRuleList(rules);
}

/** A list of rules as one client's (a token's or an HTTP answer's ACL), `$SYS` readable unless denied. */
export function compileRuleList(rules: readonly AclRule[]): ClientRules {
  return new CompiledRules([...rules, SYS_READ]);
}

/**
 * `%u` and `%c` count only as whole levels. A client whose name or id would become a wildcard
 * or several levels (`+`, `#`, `/`) gets nothing from the pattern: `pattern readwrite %u/#`
 * must not give a user called `#` everything. A `%u` pattern grants nothing without a user name.
 */
function substitute(filter: string, identity: ClientIdentity): string | undefined {
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level !== '%u' && level !== '%c') continue;
    const value = level === '%u' ? identity.username : identity.clientId;
    if (value === undefined || value === '' || /[+#/]/.test(value)) return undefined;
    levels[i] = value;
  }
  return levels.join('/');
}

class CompiledRules implements ClientRules {
  private readonly readAllow: string[][] = [];
  private readonly writeAllow: string[][] = [];
  private readonly deny: string[][] = [];

  constructor(rules: readonly AclRule[]) {
    for (const { access, filter } of rules) {
      const levels = filter.split('/');
      if (access === 'deny') this.deny.push(levels);
      if (access === 'read' || access === 'readwrite') this.readAllow.push(levels);
      if (access === 'write' || access === 'readwrite') this.writeAllow.push(levels);
    }
  }

  allowsTopic(access: Access, topic: string): boolean {
    const levels = topic.split('/');
    if (this.deny.some((rule) => matches(rule, levels))) return false;
    return (access === 'read' ? this.readAllow : this.writeAllow).some((rule) => matches(rule, levels));
  }

  /** Refused when a deny rule covers the whole filter; granted when a read rule does. */
  allowsFilter(filter: string): boolean {
    const levels = filter.split('/');
    if (this.deny.some((rule) => covers(rule, levels))) return false;
    return this.readAllow.some((rule) => covers(rule, levels));
  }
}

/** Filter levels against topic levels (MQTT 5 4.7). */
function matches(filter: readonly string[], topic: readonly string[]): boolean {
  // [MQTT-4.7.2-1] a leading wildcard does not match a `$` topic.
  if (topic[0]!.startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false;
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i]!;
    if (level === '#') return true; // [MQTT-4.7.1-2] the parent level too
    if (i >= topic.length) return false;
    if (level !== '+' && level !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

/** Whether every topic `filter` matches is matched by `rule`. */
export function covers(rule: readonly string[], filter: readonly string[]): boolean {
  if (filter[0]!.startsWith('$') && (rule[0] === '+' || rule[0] === '#')) return false;
  for (let i = 0; i < rule.length; i++) {
    const level = rule[i]!;
    if (level === '#') return true;
    if (i >= filter.length) return false;
    if (filter[i] === '#') return false;
    if (level === '+') continue;
    if (level !== filter[i]) return false;
  }
  return rule.length === filter.length;
}
