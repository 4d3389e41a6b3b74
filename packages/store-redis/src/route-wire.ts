// The forms a route takes in Redis, shared by the writer (redis-route-store.ts) and the
// reader (route-feed.ts).
//
//   route member    JSON `[filter, nodeId]`, made only here: Lua copies it byte for byte and
//                   never builds one, since cjson escapes `/` and would make unequal strings
//   change message  `<version> <op> <route member>`, op `add` or `remove`, version a decimal
//                   integer from the table's INCR counter, one per change, no gaps
import type { RouteChange } from '@roost/broker';

export interface Route {
  filter: string;
  nodeId: string;
}

export interface VersionedChange extends RouteChange {
  version: number;
}

export function encodeRoute(filter: string, nodeId: string): string {
  return JSON.stringify([filter, nodeId]);
}

export function decodeRoute(member: string): Route {
  const [filter, nodeId] = JSON.parse(member) as [string, string];
  if (typeof filter !== 'string' || typeof nodeId !== 'string') throw new Error(`malformed route member ${member}`);
  return { filter, nodeId };
}

export function parseChange(text: string): VersionedChange {
  const first = text.indexOf(' ');
  const second = text.indexOf(' ', first + 1);
  const version = Number(text.slice(0, first));
  const op = text.slice(first + 1, second);
  if (first < 0 || second < 0 || !Number.isSafeInteger(version) || (op !== 'add' && op !== 'remove')) {
    throw new Error(`malformed route change ${text}`);
  }
  return { version, op, ...decodeRoute(text.slice(second + 1)) };
}
