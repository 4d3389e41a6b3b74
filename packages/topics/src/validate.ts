// Topic names and filters (MQTT 5 section 4.7, shared subscriptions 4.8.2).
//
// Malformed UTF-8: the codec decodes invalid UTF-8 to U+FFFD instead of failing, so by the
// time a topic reaches us a U+FFFD is the only trace of a malformed sequence. We therefore
// refuse every U+FFFD as malformed UTF-8 [MQTT-1.5.4-1]; a client that genuinely meant
// U+FFFD is refused too, the price of never hand-parsing UTF-8 on the wire. Lone UTF-16
// surrogates (only reachable from code, not from the codec) are refused for the same clause:
// they are the code points U+D800..U+DFFF that UTF-8 must not encode.
//
// Each check is one pass over the code units with no allocation, since names are checked on
// every PUBLISH.

import { HASH, PLUS, SLASH } from './levels.ts';

const MAX_BYTES = 65535; // [MQTT-4.7.3-3] the length prefix is two bytes
const SHARE_PREFIX = '$share/';
const NUL = 0x00;
const REPLACEMENT = 0xfffd;

/**
 * UTF-8 width of the code point starting at `i` (4 for a surrogate pair, which covers two
 * code units), or 0 when it must not appear in a topic.
 */
function utf8Width(s: string, i: number, c: number): number {
  if (c < 0x80) return c === NUL ? 0 : 1; // [MQTT-4.7.3-2], [MQTT-1.5.4-2]
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = s.charCodeAt(i + 1); // NaN past the end, which fails the test below
    return next >= 0xdc00 && next <= 0xdfff ? 4 : 0; // [MQTT-1.5.4-1] lone high surrogate
  }
  if (c >= 0xdc00 && c <= 0xdfff) return 0; // [MQTT-1.5.4-1] lone low surrogate
  return c === REPLACEMENT ? 0 : 3; // see the file comment on U+FFFD
}

/** Byte length of `s` as UTF-8, or -1 when it holds a forbidden or malformed code point. */
function encodedLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const width = utf8Width(s, i, s.charCodeAt(i));
    if (width === 0) return -1;
    if (width === 4) i++;
    bytes += width;
  }
  return bytes;
}

/** A topic name for PUBLISH or a will. */
export function isValidTopicName(name: string): boolean {
  // [MQTT-4.7.3-1] at least one character; a UTF-16 unit is at least one UTF-8 byte, so a
  // longer string cannot fit [MQTT-4.7.3-3].
  if (name.length === 0 || name.length > MAX_BYTES) return false;
  let bytes = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === PLUS || c === HASH) return false; // [MQTT-4.7.1-1], [MQTT-3.3.2-2]
    const width = utf8Width(name, i, c);
    if (width === 0) return false;
    if (width === 4) i++;
    bytes += width;
  }
  return bytes <= MAX_BYTES; // [MQTT-4.7.3-3]
}

/** A topic filter for SUBSCRIBE or UNSUBSCRIBE, `$share/{group}/{filter}` included. */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > MAX_BYTES) return false; // [MQTT-4.7.3-1], [MQTT-4.7.3-3]
  // A first level of exactly `$share` means the shared form, so `$share` alone is refused
  // rather than read as an ordinary filter; `$shared/x` stays an ordinary filter.
  if (filter.startsWith('$share') && (filter.length === 6 || filter.charCodeAt(6) === SLASH)) {
    return isValidSharedFilter(filter);
  }
  return isValidPlainFilter(filter);
}

/** Wildcard placement and encoding of an ordinary (non-shared) filter, in one pass. */
function isValidPlainFilter(filter: string): boolean {
  if (filter.length === 0) return false; // [MQTT-4.7.3-1]
  const last = filter.length - 1;
  let bytes = 0;
  for (let i = 0; i <= last; i++) {
    const c = filter.charCodeAt(i);
    const startsLevel = i === 0 || filter.charCodeAt(i - 1) === SLASH;
    if (c === PLUS) {
      // [MQTT-4.7.1-3] `+` occupies an entire level
      if (!startsLevel || (i < last && filter.charCodeAt(i + 1) !== SLASH)) return false;
    } else if (c === HASH) {
      // [MQTT-4.7.1-2] `#` on its own or after `/`, and the last character
      if (!startsLevel || i !== last) return false;
    }
    const width = utf8Width(filter, i, c);
    if (width === 0) return false;
    if (width === 4) i++;
    bytes += width;
  }
  return bytes <= MAX_BYTES; // [MQTT-4.7.3-3]
}

/** `$share/{group}/{filter}`. */
function isValidSharedFilter(filter: string): boolean {
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  // [MQTT-4.8.2-2] the ShareName must be followed by `/` and then a Topic Filter
  if (slash < 0 || slash === filter.length - 1) return false;
  // [MQTT-4.8.2-1] a ShareName at least one character long (`/` cannot occur: we cut at it)
  if (slash === SHARE_PREFIX.length) return false;
  for (let i = SHARE_PREFIX.length; i < slash; i++) {
    const c = filter.charCodeAt(i);
    if (c === PLUS || c === HASH) return false; // [MQTT-4.8.2-2]
  }
  // Encoding and total length of the whole string, then the inner filter's own rules. The
  // inner filter is ordinary even if it begins with `$share`: there is no nesting.
  const bytes = encodedLength(filter);
  return bytes >= 0 && bytes <= MAX_BYTES && isValidPlainFilter(filter.slice(slash + 1));
}

/**
 * The group and inner filter of a shared subscription, or undefined for an ordinary filter.
 * Assumes `isValidTopicFilter` already accepted it.
 */
export function parseSharedFilter(filter: string): { group: string; filter: string } | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash < 0) return undefined;
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) };
}
