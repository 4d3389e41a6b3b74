import type { Message } from '@roost/protocol';

export const SHARED_STRATEGIES = ['round_robin', 'random', 'hash_clientid', 'hash_topic', 'local'] as const;
export type SharedStrategy = (typeof SHARED_STRATEGIES)[number];

/**
 * Orders the nodes holding members of one shared group for one message: the first is tried
 * first, the rest are fallbacks when it cannot take the message.
 */
export class SharedNodeChooser {
  private readonly strategy: SharedStrategy;
  private readonly groups: ReadonlyMap<string, SharedStrategy>;
  private readonly self: string;
  private readonly cursors = new Map<string, number>();

  /** `groups` overrides `strategy` for the share names it lists. */
  constructor(strategy: SharedStrategy, self: string, groups: ReadonlyMap<string, SharedStrategy> = new Map()) {
    this.strategy = strategy;
    this.groups = groups;
    this.self = self;
  }

  order(group: string, filter: string, nodes: ReadonlySet<string>, message: Message): string[] {
    const sorted = [...nodes].sort();
    if (sorted.length <= 1) return sorted;
    const groupKey = `${group}/${filter}`;
    let start: number;
    switch (this.groups.get(group) ?? this.strategy) {
      case 'local':
        if (nodes.has(this.self)) return [this.self, ...sorted.filter((n) => n !== this.self)];
        start = this.next(groupKey, sorted.length);
        break;
      case 'round_robin':
        start = this.next(groupKey, sorted.length);
        break;
      case 'random':
        start = Math.floor(Math.random() * sorted.length);
        break;
      case 'hash_clientid':
        start = hash(message.origin ?? '') % sorted.length;
        break;
      case 'hash_topic':
        start = hash(message.topic) % sorted.length;
        break;
    }
    return [...sorted.slice(start), ...sorted.slice(0, start)];
  }

  private next(groupKey: string, count: number): number {
    const cursor = this.cursors.get(groupKey) ?? 0;
    this.cursors.set(groupKey, (cursor + 1) % count);
    return cursor % count;
  }
}

/** FNV-1a: stable across nodes and restarts, which hash strategies need. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
