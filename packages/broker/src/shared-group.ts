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

  delete(clientId: string): void {
    const index = this.members.findIndex((m) => m.clientId === clientId);
    if (index < 0) return;
    this.members.splice(index, 1);
    if (this.cursor > index) this.cursor--;
  }

  pick(isOnline: (clientId: string) => boolean): SharedMember | undefined {
    const count = this.members.length;
    if (count === 0) return undefined;
    for (let i = 0; i < count; i++) {
      const member = this.members[(this.cursor + i) % count]!;
      if (isOnline(member.clientId)) {
        this.cursor = (this.cursor + i + 1) % count;
        return member;
      }
    }
    const member = this.members[this.cursor % count]!;
    this.cursor = (this.cursor + 1) % count;
    return member;
  }
}
