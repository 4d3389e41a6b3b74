/**
 * The reference matcher: obviously correct and slow. The tries are property-tested against
 * it, so it stays a literal reading of MQTT 5 section 4.7 rather than a fast one.
 * Assumes both arguments are valid; compares levels exactly, without normalisation [MQTT-4.7.3-4].
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a `$` topic
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    // [MQTT-4.7.1-2] `#` matches the parent too: `sport/#` matches `sport`
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    // [MQTT-4.7.1-3] `+` matches exactly one level, an empty one included
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
