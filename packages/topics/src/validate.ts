// Topic names and filters (MQTT 5 4.7, 4.8.2). The codec decodes invalid UTF-8 to U+FFFD,
// so U+FFFD here stands for malformed UTF-8 [MQTT-1.5.4-1]; a client that really meant
// U+FFFD is refused too, a price paid for never hand-parsing the wire.
const FORBIDDEN = /[\u0000\uFFFD]/; // [MQTT-1.5.4-2], [MQTT-4.7.3-2]
const MAX_BYTES = 65535; // [MQTT-4.7.3-3]

function fitsString(s: string): boolean {
  return s.length > 0 && (s.length * 3 <= MAX_BYTES || Buffer.byteLength(s) <= MAX_BYTES) && !FORBIDDEN.test(s);
}

/** A topic name for PUBLISH: non-empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2]. */
export function isValidTopicName(name: string): boolean {
  return fitsString(name) && !name.includes('+') && !name.includes('#');
}

/** A topic filter for SUBSCRIBE/UNSUBSCRIBE, shared forms included. */
export function isValidTopicFilter(filter: string): boolean {
  if (!fitsString(filter)) return false;
  if (filter.startsWith('$share/') || filter === '$share') return isValidSharedFilter(filter);
  return hasValidWildcards(filter);
}

/** `+` only as a whole level [MQTT-4.7.1-2]; `#` only as the whole last level [MQTT-4.7.1-1]. */
function hasValidWildcards(filter: string): boolean {
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level === '+') continue;
    if (level === '#') {
      if (i !== levels.length - 1) return false;
      continue;
    }
    if (level.includes('+') || level.includes('#')) return false;
  }
  return true;
}

/** `$share/{group}/{filter}`: a non-empty group without wildcards or `/` [MQTT-4.8.2-1], then a filter [MQTT-4.8.2-2]. */
function isValidSharedFilter(filter: string): boolean {
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return false;
  const group = rest.slice(0, slash);
  const inner = rest.slice(slash + 1);
  if (group.includes('+') || group.includes('#')) return false;
  return inner.length > 0 && hasValidWildcards(inner);
}

/** The group and inner filter of a shared subscription; undefined for an ordinary filter. */
export function parseSharedFilter(filter: string): { group: string; filter: string } | undefined {
  if (!filter.startsWith('$share/')) return undefined;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return undefined;
  return { group: rest.slice(0, slash), filter: rest.slice(slash + 1) };
}
