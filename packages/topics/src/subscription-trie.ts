class FilterNode<V> {
  readonly children = new Map<string, FilterNode<V>>();
  /** Entries of the filter ending at this node, keyed by client id or group. */
  entries: Map<string, V> | undefined;
  filter = '';
}

/**
 * Topic filters in a trie of levels, so matching a topic costs its depth times the
 * wildcard branches rather than the number of filters (after nats-server's sublist).
 */
export class SubscriptionTrie<V> {
  private readonly root = new FilterNode<V>();
  private entryCount = 0;
  private filters = 0;

  get size(): number {
    return this.entryCount;
  }

  get filterCount(): number {
    return this.filters;
  }

  /** Adds or replaces; true when the filter had no entries before. */
  add(filter: string, key: string, value: V): boolean {
    let node = this.root;
    for (const level of filter.split('/')) {
      let child = node.children.get(level);
      if (!child) {
        child = new FilterNode<V>();
        node.children.set(level, child);
      }
      node = child;
    }
    const first = node.entries === undefined || node.entries.size === 0;
    if (first) {
      node.entries = new Map();
      node.filter = filter;
      this.filters++;
    }
    if (!node.entries!.has(key)) this.entryCount++;
    node.entries!.set(key, value);
    return first;
  }

  /** Removes one entry; true when the filter has none left. Empty branches are pruned. */
  remove(filter: string, key: string): boolean {
    const path: FilterNode<V>[] = [this.root];
    const levels = filter.split('/');
    for (const level of levels) {
      const child = path[path.length - 1]!.children.get(level);
      if (!child) return false;
      path.push(child);
    }
    const node = path[path.length - 1]!;
    if (!node.entries?.delete(key)) return false;
    this.entryCount--;
    if (node.entries.size > 0) return false;
    node.entries = undefined;
    this.filters--;
    for (let i = path.length - 1; i > 0; i--) {
      const current = path[i]!;
      if (current.entries || current.children.size > 0) break;
      path[i - 1]!.children.delete(levels[i - 1]!);
    }
    return true;
  }

  get(filter: string, key: string): V | undefined {
    return this.find(filter)?.entries?.get(key);
  }

  hasFilter(filter: string): boolean {
    return (this.find(filter)?.entries?.size ?? 0) > 0;
  }

  entries(filter: string): ReadonlyMap<string, V> | undefined {
    return this.find(filter)?.entries;
  }

  private find(filter: string): FilterNode<V> | undefined {
    let node: FilterNode<V> | undefined = this.root;
    for (const level of filter.split('/')) {
      node = node.children.get(level);
      if (!node) return undefined;
    }
    return node;
  }

  /** Visits every entry of every filter that matches `topic`. */
  match(topic: string, visit: (key: string, value: V, filter: string) => void): void {
    // [MQTT-4.7.2-1] wildcards at the first level skip `$` topics.
    this.walk(this.root, topic, 0, topic.charCodeAt(0) === 36 /* $ */, visit);
  }

  private walk(node: FilterNode<V>, topic: string, start: number, dollar: boolean, visit: (key: string, value: V, filter: string) => void): void {
    if (!dollar) {
      const hash = node.children.get('#');
      if (hash) emit(hash, visit); // `#` matches this level and everything below, the parent included
    }
    let end = topic.indexOf('/', start);
    if (end < 0) end = topic.length;
    const level = topic.slice(start, end);
    const last = end === topic.length;
    const exact = node.children.get(level);
    if (exact) this.descend(exact, topic, end, last, visit);
    if (!dollar) {
      const plus = node.children.get('+');
      if (plus) this.descend(plus, topic, end, last, visit);
    }
  }

  private descend(node: FilterNode<V>, topic: string, end: number, last: boolean, visit: (key: string, value: V, filter: string) => void): void {
    if (last) {
      emit(node, visit);
      const hash = node.children.get('#');
      if (hash) emit(hash, visit);
    } else {
      this.walk(node, topic, end + 1, false, visit);
    }
  }
}

function emit<V>(node: FilterNode<V>, visit: (key: string, value: V, filter: string) => void): void {
  if (!node.entries) return;
  for (const [key, value] of node.entries) visit(key, value, node.filter);
}
