// The metric names a PromQL expression reads, and the names a /metrics exposition declares,
// so a dashboard or an alert can be checked against what a node really exports.

/** Words of PromQL that look like names but are not metrics. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan', 'Inf', 'NaN']);

/**
 * Metric names in `expr`: identifiers that are not functions (followed by `(`), keywords,
 * label names (inside `{...}` or a `by (...)` list), strings, durations or Grafana variables.
 */
export function metricNames(expr: string): Set<string> {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // string literals (label values)
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping labels
    .replace(/\$\{?\w+(?::\w+)?\}?/g, ' '); // Grafana variables ($instance, ${__rate_interval})
  const names = new Set<string>();
  for (const match of bare.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*/g)) {
    const name = match[0];
    const after = bare.slice(match.index + name.length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(name)) continue;
    names.add(name);
  }
  return names;
}

/**
 * Every series name an exposition declares with `# TYPE`, samples or not (a labelled counter
 * nothing has incremented yet has none): a histogram's `_bucket`, `_sum` and `_count`, a
 * summary's name, `_sum` and `_count`, a counter's or gauge's own name.
 */
export function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) names.add(`${name}${suffix}`);
    else names.add(name!);
  }
  return names;
}
