import type { Message } from '@roost/protocol';
import { TopicTree } from '@roost/topics';
import type { RetainedStore } from './retained-store.ts';

/** The embedded retained store: a topic tree, so a wildcard lookup walks only matching branches. */
export class MemoryRetainedStore implements RetainedStore {
  private readonly tree = new TopicTree<Message>();

  async count(): Promise<number> {
    return this.tree.size;
  }

  async set(message: Message): Promise<void> {
    this.tree.set(message.topic, message);
  }

  async delete(topic: string): Promise<void> {
    this.tree.delete(topic);
  }

  async match(filter: string): Promise<Message[]> {
    const found: Message[] = [];
    this.tree.match(filter, (_topic, message) => found.push(message));
    return found;
  }
}
