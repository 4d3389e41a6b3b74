import { isValidTopicFilter } from '@roost/topics';
import type { AclAccess, AclRule } from './acl-parse.ts';

const ACCESS: readonly AclAccess[] = ['read', 'write', 'readwrite', 'deny'];
/** A client's ACL from a token or an HTTP answer stays small: it is compiled at every CONNECT. */
const MAX_RULES = 256;

/**
 * A client's ACL as a token claim or an HTTP answer carries it, in the ACL file's words:
 * `{"read": ["a/#"], "write": ["b/+"], "readwrite": [...], "deny": [...]}`, every key optional,
 * each a list of topic filters. What no rule allows is refused and `deny` wins, as in the file.
 * Returns the reason as a string when the value is not such an object.
 */
export function parseAclClaim(value: unknown): AclRule[] | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the ACL is not an object';
  const rules: AclRule[] = [];
  for (const [key, filters] of Object.entries(value)) {
    if (!ACCESS.includes(key as AclAccess)) return `unknown ACL key ${JSON.stringify(key.slice(0, 20))} (read, write, readwrite, deny)`;
    if (!Array.isArray(filters)) return `ACL ${key} is not a list`;
    for (const filter of filters) {
      if (typeof filter !== 'string' || !isValidTopicFilter(filter)) return `ACL ${key} holds something that is not a topic filter`;
      rules.push({ access: key as AclAccess, filter });
    }
    if (rules.length > MAX_RULES) return `more than ${MAX_RULES} ACL rules`;
  }
  return rules;
}
