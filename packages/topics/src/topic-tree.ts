class TopicNode<V> {
  readonly children = new Map<string, TopicNode<V>>();
  value: V | undefined;
  hasValue = false;
  topic = '';
}

/**
 * Concrete topic names in a tree of levels (retained messages): a wildcard lookup walks
 * only the branches the filter can match instead of scanning every topic.
 */
export class TopicTree<V> {
  private readonly root = new TopicNode<V>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  set(topic: string, value: V): void {
    let node = this.root;
    for (const level of topic.split('/')) {
      let child = node.children.get(level);
      if (!child) {
        child = new TopicNode<V>();
        node.children.set(level, child);
      }
      node = child;
    }
    if (!node.hasValue) this.count++;
    node.hasValue = true;
    node.value = value;
    node.topic = topic;
  }

  get(topic: string): V | undefined {
    let node: TopicNode<V> | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children.get(level);
      if (!node) return undefined;
    }
    return node.hasValue ? node.value : undefined;
  }

  /** Removes a topic's value; empty branches are pruned so churn does not leak. */
  delete(topic: string): boolean {
    const levels = topic.split('/');
    const path: TopicNode<V>[] = [this.root];
    for (const level of levels) {
      const child = path[path.length - 1]!.children.get(level);
      if (!child) return false;
      path.push(child);
    }
    const node = path[path.length - 1]!;
    if (!node.hasValue) return false;
    node.hasValue = false;
    node.value = undefined;
    this.count--;
    for (let i = path.length - 1; i > 0; i--) {
      const current = path[i]!;
      if (current.hasValue || current.children.size > 0) break;
      path[i - 1]!.children.delete(levels[i - 1]!);
    }
    return true;
  }

  /** Visits every stored topic matched by `filter`, with the `$` rule [MQTT-4.7.2-1]. */
  match(filter: string, visit: (topic: string, value: V) => void): void {
    this.walk(this.root, filter.split('/'), 0, visit);
  }

  private walk(node: TopicNode<V>, levels: string[], index: number, visit: (topic: string, value: V) => void): void {
    if (index === levels.length) {
      if (node.hasValue) visit(node.topic, node.value as V);
      return;
    }
    const level = levels[index]!;
    if (level === '#') {
      // `#` matches the parent level too: `a/#` matches `a`.
      if (index > 0 && node.hasValue) visit(node.topic, node.value as V);
      this.visitAll(node, index === 0, visit);
      return;
    }
    if (level === '+') {
      for (const [name, child] of node.children) {
        if (index === 0 && name.startsWith('$')) continue;
        this.walk(child, levels, index + 1, visit);
      }
      return;
    }
    const child = node.children.get(level);
    if (child) this.walk(child, levels, index + 1, visit);
  }

  private visitAll(node: TopicNode<V>, skipDollar: boolean, visit: (topic: string, value: V) => void): void {
    for (const [name, child] of node.children) {
      if (skipDollar && name.startsWith('$')) continue;
      if (child.hasValue) visit(child.topic, child.value as V);
      this.visitAll(child, false, visit);
    }
  }
}
