import type { SubscriptionOptions } from '@roost/protocol';

export interface SharedMember {
  clientId: string;
  options: SubscriptionOptions;
}

/**
 * The members of one `$share/{group}/{filter}` on this node. Round robin over members,
 * preferring connected ones, so an offline persistent member only queues when nobody
 * else can take the message.
 */
export class SharedGroup {
  private readonly members: SharedMember[] = [];
  private cursor = 0;

  get size(): number {
    return this.members.length;
  }

  set(clientId: string, options: SubscriptionOptions): void {
    const existing = this.members.find((m) => m.clientId === clientId);
    if (existing) existing.options = options;
    else this.members.push({ clientId, options });
  }

  has(clientId: string): boolean {
    return this.members.some((m) => m.clientId === clientId);
  }

  get(clientId: string): SharedMember | undefined {
    return this.members.find((m) => m.clientId === clientId);
  }

  delete(clientId: string): void {
    const index = this.members.findIndex((m) => m.clientId === clientId);
    if (index < 0) return;
    this.members.splice(index, 1);
    if (this.cursor > index) this.cursor--;
  }

  /** The next member in turn, online ones first; never `exclude` (a member handing messages back). */
  pick(isOnline: (clientId: string) => boolean, exclude?: string): SharedMember | undefined {
    const count = this.members.length;
    let offline: number | undefined;
    for (let i = 0; i < count; i++) {
      const index = (this.cursor + i) % count;
      const member = this.members[index]!;
      if (member.clientId === exclude) continue;
      if (isOnline(member.clientId)) {
        this.cursor = (index + 1) % count;
        return member;
      }
      offline ??= index;
    }
    if (offline === undefined) return undefined;
    this.cursor = (offline + 1) % count;
    return this.members[offline];
  }
}
