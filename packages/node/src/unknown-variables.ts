/** Read by scripts/cluster.ts, not by a node, and passed on to the nodes it starts. */
const NOT_NODE_SETTINGS = new Set(['ROOST_CLUSTER_SIZE']);

/**
 * A warning for each ROOST_* variable no setting reads, naming the closest known one: a typo
 * would otherwise silently leave a default in force.
 */
export function unknownVariables(env: NodeJS.ProcessEnv, known: readonly string[]): string[] {
  const names = new Set(known);
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('ROOST_') || names.has(name) || NOT_NODE_SETTINGS.has(name)) continue;
    const closest = nearest(name, known);
    warnings.push(`unknown variable ${name} is ignored${closest ? `; did you mean ${closest}?` : ''}`);
  }
  return warnings;
}

/** The known name at the smallest edit distance, if it is close enough to be a typo. */
function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(3, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
