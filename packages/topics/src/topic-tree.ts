import { DOLLAR, HASH, PLUS, levelEnd } from './levels.ts';

type Visit<V> = (topic: string, value: V) => void;

class TopicNode<V> {
  readonly parent: TopicNode<V> | undefined;
  readonly level: string;
  children: Map<string, TopicNode<V>> | undefined = undefined;
  /** A flag rather than `value !== undefined`, so undefined can be stored as a value. */
  hasValue = false;
  value: V | undefined = undefined;
  /** The topic ending here, kept so `match` can report it without rebuilding it from levels. */
  topic = '';

  constructor(parent: TopicNode<V> | undefined, level: string) {
    this.parent = parent;
    this.level = level;
  }
}

/**
 * Concrete topic names in a tree of levels (retained messages). A lookup by filter walks
 * only the branches the filter can match: a filter without wildcards is a chain of Map
 * lookups, never a scan. Topics must be valid topic names.
 */
export class TopicTree<V> {
  #root = new TopicNode<V>(undefined, '');
  #size = 0;
  #nodeCount = 0;

  get size(): number {
    return this.#size;
  }

  /** Tree nodes below the root; zero once everything is deleted, which tests use to spot leaks. */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  set(topic: string, value: V): void {
    let node = this.#root;
    for (let start = 0; start <= topic.length; ) {
      const end = levelEnd(topic, start);
      const level = topic.slice(start, end);
      let next = node.children?.get(level);
      if (!next) {
        next = new TopicNode<V>(node, level);
        (node.children ??= new Map()).set(level, next);
        this.#nodeCount++;
      }
      node = next;
      start = end + 1;
    }
    if (!node.hasValue) this.#size++;
    node.hasValue = true;
    node.value = value;
    node.topic = topic;
  }

  get(topic: string): V | undefined {
    const node = this.#find(topic);
    return node?.hasValue ? node.value : undefined;
  }

  /** True when the topic was present. Emptied nodes are pruned so churn does not leak. */
  delete(topic: string): boolean {
    const node = this.#find(topic);
    if (!node?.hasValue) return false;
    node.hasValue = false;
    node.value = undefined;
    node.topic = '';
    this.#size--;
    let current = node;
    while (current.parent && !current.hasValue && current.children === undefined) {
      const parent: TopicNode<V> = current.parent;
      parent.children!.delete(current.level);
      if (parent.children!.size === 0) parent.children = undefined;
      this.#nodeCount--;
      current = parent;
    }
    return true;
  }

  /** Visits every stored topic matched by `filter` (a valid, non-shared topic filter). */
  match(filter: string, visit: Visit<V>): void {
    matchFilter(this.#root, filter, visit);
  }

  #find(topic: string): TopicNode<V> | undefined {
    let node: TopicNode<V> | undefined = this.#root;
    for (let start = 0; start <= topic.length && node; ) {
      const end = levelEnd(topic, start);
      node = node.children?.get(topic.slice(start, end));
      start = end + 1;
    }
    return node;
  }
}

// The walks below use an explicit stack, not recursion: a valid topic or filter can be 32768
// levels deep [MQTT-4.7.3-3], enough to overflow the call stack. A retained lookup runs once
// per SUBSCRIBE, not per message, so the stack's array costs nothing that matters. Each
// node is reached by one path only, so a walk visits each node at most once.

function matchFilter<V>(root: TopicNode<V>, filter: string, visit: Visit<V>): void {
  // Pairs of (node, start): the node has matched the filter's levels before start.
  const nodes = [root];
  const starts = [0];
  for (let node = nodes.pop(); node; node = nodes.pop()) {
    const start = starts.pop()!;
    if (start > filter.length) {
      if (node.hasValue) visit(node.topic, node.value as V);
      continue;
    }
    const end = levelEnd(filter, start);
    // [MQTT-4.7.2-1] first-level wildcards skip topics starting with `$`
    const skipDollar = start === 0;
    const wildcard = end - start === 1 ? filter.charCodeAt(start) : 0;
    if (wildcard === HASH) {
      // [MQTT-4.7.1-2] the parent level too: `sport/#` matches `sport` (the root holds no topic)
      if (node.hasValue) visit(node.topic, node.value as V);
      visitBelow(node, skipDollar, visit);
    } else if (wildcard === PLUS) {
      // [MQTT-4.7.1-3] any one level, an empty one included
      if (!node.children) continue;
      for (const next of node.children.values()) {
        if (skipDollar && next.level.charCodeAt(0) === DOLLAR) continue;
        nodes.push(next);
        starts.push(end + 1);
      }
    } else {
      // [MQTT-4.7.3-4] exact, unnormalised comparison of the level
      const next = node.children?.get(filter.slice(start, end));
      if (next) {
        nodes.push(next);
        starts.push(end + 1);
      }
    }
  }
}

/** Every topic strictly below `top`. */
function visitBelow<V>(top: TopicNode<V>, skipDollar: boolean, visit: Visit<V>): void {
  if (!top.children) return;
  const pending: TopicNode<V>[] = [];
  for (const next of top.children.values()) {
    if (!(skipDollar && next.level.charCodeAt(0) === DOLLAR)) pending.push(next);
  }
  for (let node = pending.pop(); node; node = pending.pop()) {
    if (node.hasValue) visit(node.topic, node.value as V);
    if (node.children) for (const next of node.children.values()) pending.push(next);
  }
}
