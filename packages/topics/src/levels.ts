// Level walking shared by the trie and the tree. Topics and filters are walked by index
// instead of `split('/')`, so a lookup allocates no array, only the level strings that
// a Map lookup needs.

export const SLASH = 0x2f;
export const PLUS = 0x2b;
export const HASH = 0x23;
export const DOLLAR = 0x24;

/**
 * End (exclusive) of the level starting at `start`. The next level starts at the returned
 * index + 1; once that exceeds `s.length` there are no more levels. An empty string or a
 * trailing `/` therefore yields an empty level, as `split` would.
 */
export function levelEnd(s: string, start: number): number {
  const slash = s.indexOf('/', start);
  return slash < 0 ? s.length : slash;
}
