import { isValidTopicFilter } from '@roost/topics';
import type { LineProblem } from './password-file.ts';

/** `deny` refuses both directions and wins over any grant (Mosquitto 2.0's meaning). */
export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny';

export interface AclRule {
  readonly access: AclAccess;
  /** A topic filter; in a `pattern` rule, `%u` and `%c` levels are the user name and client id. */
  readonly filter: string;
}

export interface AclFileRules {
  /** `topic` lines before any `user` line: for clients without a user name. */
  readonly anonymous: readonly AclRule[];
  /** `topic` lines under `user <name>`, by name. */
  readonly users: ReadonlyMap<string, readonly AclRule[]>;
  /** `pattern` lines, wherever they stand: for every client. */
  readonly patterns: readonly AclRule[];
}

const ACCESS = new Set<string>(['read', 'write', 'readwrite', 'deny']);

/**
 * Mosquitto's acl_file: `topic [read|write|readwrite|deny] <filter>`, `user <name>`,
 * `pattern [access] <filter>`; `#` comments and blank lines. The filter (and the user name)
 * is the rest of the line, spaces included, as Mosquitto reads it.
 */
export function parseAclFile(text: string): { rules: AclFileRules; problems: LineProblem[] } {
  const anonymous: AclRule[] = [];
  const users = new Map<string, AclRule[]>();
  const patterns: AclRule[] = [];
  const problems: LineProblem[] = [];
  let section = anonymous;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\s+$/, '').replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const [keyword, rest] = splitWord(line);
    if (keyword === 'user') {
      if (rest === '') {
        problems.push({ line: i + 1, reason: 'user without a name' });
        continue;
      }
      section = users.get(rest) ?? [];
      users.set(rest, section);
    } else if (keyword === 'topic' || keyword === 'pattern') {
      const rule = parseRule(rest);
      if (typeof rule === 'string') {
        problems.push({ line: i + 1, reason: rule });
        continue;
      }
      (keyword === 'topic' ? section : patterns).push(rule);
    } else {
      problems.push({ line: i + 1, reason: `unknown keyword ${JSON.stringify(keyword.slice(0, 20))}` });
    }
  }
  return { rules: { anonymous, users, patterns }, problems };
}

function parseRule(text: string): AclRule | string {
  const [first, rest] = splitWord(text);
  const hasAccess = ACCESS.has(first);
  const filter = hasAccess ? rest : text;
  if (filter === '') return 'rule without a topic filter';
  if (!isValidTopicFilter(filter)) return 'not a valid topic filter';
  return { access: hasAccess ? (first as AclAccess) : 'readwrite', filter };
}

function splitWord(text: string): [string, string] {
  const match = /^(\S+)\s*(.*)$/.exec(text);
  return match ? [match[1]!, match[2]!] : ['', ''];
}
