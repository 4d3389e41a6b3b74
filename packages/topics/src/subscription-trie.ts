import { DOLLAR, HASH, PLUS, levelEnd } from './levels.ts';

type Visit<V> = (key: string, value: V, filter: string) => void;

/**
 * One filter level. `+` and `#` get their own pointers rather than living in `children`, so
 * the match walk reaches them without a Map lookup per level (as nats-server's sublist does).
 */
class FilterNode<V> {
  readonly parent: FilterNode<V> | undefined;
  readonly level: string;
  children: Map<string, FilterNode<V>> | undefined = undefined;
  plus: FilterNode<V> | undefined = undefined;
  hash: FilterNode<V> | undefined = undefined;
  /** Entries of the filter ending here, keyed by client id or share group; undefined when none. */
  entries: Map<string, V> | undefined = undefined;
  /** The filter ending here, kept so `match` can report it without rebuilding it from levels. */
  filter = '';

  constructor(parent: FilterNode<V> | undefined, level: string) {
    this.parent = parent;
    this.level = level;
  }

  isEmpty(): boolean {
    return this.entries === undefined && this.plus === undefined && this.hash === undefined && this.children === undefined;
  }
}

/**
 * Topic filters in a trie of levels: matching a topic costs its depth times the wildcard
 * branches, not the number of filters. Filters must be validated (`isValidTopicFilter`)
 * and stripped of any `$share/{group}/` prefix by the caller.
 */
export class SubscriptionTrie<V> {
  #root = new FilterNode<V>(undefined, '');
  #size = 0;
  #filterCount = 0;
  #nodeCount = 0;

  /** Number of (filter, key) entries. */
  get size(): number {
    return this.#size;
  }

  /** Number of filters with at least one entry. */
  get filterCount(): number {
    return this.#filterCount;
  }

  /** Trie nodes below the root; zero once everything is removed, which tests use to spot leaks. */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /** Sets or replaces; true when the filter had no entries before, i.e. a first subscriber. */
  add(filter: string, key: string, value: V): boolean {
    let node = this.#root;
    for (let start = 0; start <= filter.length; ) {
      const end = levelEnd(filter, start);
      node = this.#childOrCreate(node, filter.slice(start, end));
      start = end + 1;
    }
    const first = node.entries === undefined;
    if (first) {
      node.entries = new Map();
      node.filter = filter;
      this.#filterCount++;
    }
    const entries = node.entries!;
    if (!entries.has(key)) this.#size++;
    entries.set(key, value);
    return first;
  }

  /**
   * Removes one entry; true when the filter has none left afterwards, i.e. the last
   * subscriber left. Emptied nodes are pruned so subscribe/unsubscribe churn does not leak.
   */
  remove(filter: string, key: string): boolean {
    const node = this.#find(filter);
    if (!node?.entries?.delete(key)) return false;
    this.#size--;
    if (node.entries.size > 0) return false;
    node.entries = undefined;
    node.filter = '';
    this.#filterCount--;
    this.#prune(node);
    return true;
  }

  get(filter: string, key: string): V | undefined {
    return this.#find(filter)?.entries?.get(key);
  }

  hasFilter(filter: string): boolean {
    return this.#find(filter)?.entries !== undefined;
  }

  entries(filter: string): ReadonlyMap<string, V> | undefined {
    return this.#find(filter)?.entries;
  }

  /** Visits every entry of every filter matching `topic` (a valid topic name). */
  match(topic: string, visit: Visit<V>): void {
    const root = this.#root;
    // [MQTT-4.7.2-1] wildcards in the first level do not match a topic starting with `$`
    const wildcards = topic.charCodeAt(0) !== DOLLAR;
    if (wildcards && root.hash) emit(root.hash, visit);
    const end = levelEnd(topic, 0);
    if (root.children) {
      const exact = root.children.get(topic.slice(0, end));
      if (exact) walk(exact, topic, end + 1, visit, 1);
    }
    if (wildcards && root.plus) walk(root.plus, topic, end + 1, visit, 1);
  }

  #find(filter: string): FilterNode<V> | undefined {
    let node: FilterNode<V> | undefined = this.#root;
    for (let start = 0; start <= filter.length && node; ) {
      const end = levelEnd(filter, start);
      node = child(node, filter.slice(start, end));
      start = end + 1;
    }
    return node;
  }

  #childOrCreate(node: FilterNode<V>, level: string): FilterNode<V> {
    const existing = child(node, level);
    if (existing) return existing;
    const created = new FilterNode<V>(node, level);
    this.#nodeCount++;
    if (isWildcard(level, PLUS)) node.plus = created;
    else if (isWildcard(level, HASH)) node.hash = created;
    else (node.children ??= new Map()).set(level, created);
    return created;
  }

  /** Detaches empty nodes from `node` upwards, stopping at the first one still in use. */
  #prune(node: FilterNode<V>): void {
    let current = node;
    while (current.parent && current.isEmpty()) {
      const parent: FilterNode<V> = current.parent;
      if (parent.plus === current) parent.plus = undefined;
      else if (parent.hash === current) parent.hash = undefined;
      else {
        parent.children!.delete(current.level);
        if (parent.children!.size === 0) parent.children = undefined;
      }
      this.#nodeCount--;
      current = parent;
    }
  }
}

function isWildcard(level: string, wildcard: number): boolean {
  return level.length === 1 && level.charCodeAt(0) === wildcard;
}

function child<V>(node: FilterNode<V>, level: string): FilterNode<V> | undefined {
  if (isWildcard(level, PLUS)) return node.plus;
  if (isWildcard(level, HASH)) return node.hash;
  return node.children?.get(level);
}

/**
 * Recursion depth after which `walk` hands over to `walkDeep`. Real topics are a handful of
 * levels deep, but a valid one can have 32768 [MQTT-4.7.3-3], enough to overflow the call
 * stack: a client could otherwise crash routing with one deep SUBSCRIBE and PUBLISH.
 */
const MAX_RECURSION = 128;

/**
 * `node` has matched the topic's levels before `start`; `start > topic.length` means the
 * topic is used up. A module function rather than a method or closure, and recursive rather
 * than driven by an explicit stack: the usual walk allocates nothing but the level string
 * a Map lookup needs. Each node is reached by one path only, so a match visits each node
 * at most once.
 */
function walk<V>(node: FilterNode<V>, topic: string, start: number, visit: Visit<V>, depth: number): void {
  if (depth > MAX_RECURSION) {
    walkDeep(node, topic, start, visit);
    return;
  }
  // [MQTT-4.7.1-2] `#` matches every remaining level, none included: `sport/#` matches `sport`
  if (node.hash) emit(node.hash, visit);
  if (start > topic.length) {
    emit(node, visit);
    return;
  }
  const end = levelEnd(topic, start);
  if (node.children) {
    const exact = node.children.get(topic.slice(start, end));
    if (exact) walk(exact, topic, end + 1, visit, depth + 1);
  }
  // [MQTT-4.7.1-3] `+` matches exactly one level, an empty one included
  if (node.plus) walk(node.plus, topic, end + 1, visit, depth + 1);
}

/** `walk` with an explicit stack, for the rare topic too deep to recurse through. */
function walkDeep<V>(root: FilterNode<V>, topic: string, rootStart: number, visit: Visit<V>): void {
  const nodes = [root];
  const starts = [rootStart];
  for (let node = nodes.pop(); node; node = nodes.pop()) {
    const start = starts.pop()!;
    if (node.hash) emit(node.hash, visit);
    if (start > topic.length) {
      emit(node, visit);
      continue;
    }
    const end = levelEnd(topic, start);
    const exact = node.children?.get(topic.slice(start, end));
    if (exact) {
      nodes.push(exact);
      starts.push(end + 1);
    }
    if (node.plus) {
      nodes.push(node.plus);
      starts.push(end + 1);
    }
  }
}

function emit<V>(node: FilterNode<V>, visit: Visit<V>): void {
  const entries = node.entries;
  if (!entries) return;
  const filter = node.filter;
  for (const [key, value] of entries) visit(key, value, filter);
}
