import { parseSharedFilter, topicMatches } from '@roost/topics';
import type { Message } from '@roost/protocol';

/**
 * How long a node remembers a session another node took over. A message forwarded here
 * before the release can arrive after it: the new holder's Takeover call and the Forward
 * stream the message came on are not ordered with each other (a busy node reads one before
 * the other, a batch may wait behind the link's window), and a forward may be retried for
 * seconds. Well above both.
 */
const REMEMBER_MS = 30_000;
/**
 * A message its peer routed later than this after a session left was routed with the
 * session's new node in the peer's replica (the new node's routes reach every live peer
 * before it asks for the session), so that node has its own copy. Clocks are assumed this close.
 */
const CLOCK_MARGIN_MS = 1_000;

interface Moved {
  filters: string[];
  /** When the session left this node (this node's clock). */
  at: number;
}

/**
 * Sessions this node handed to another node lately, with their direct filters. A QoS 1/2
 * message forwarded here after such a session left, routed before that and matching one of
 * its filters, may have been sent here for it: the node asks its sender to route it again
 * (the ack says so), and the copy reaches the session's new node, where only sessions taken
 * on since its first routing take it (Forwarder). Shared members need none of this: a node
 * declines a shared message for a member it no longer holds, and the dispatcher offers it
 * elsewhere.
 */
export class MovedSessions {
  private readonly moved = new Map<string, Moved>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** `clientId`'s session left this node now, with these filters. */
  add(clientId: string, filters: Iterable<string>): void {
    const direct = [...filters].filter((filter) => parseSharedFilter(filter) === undefined);
    this.moved.delete(clientId); // re-inserted last: the map stays in release order for the sweep
    if (direct.length > 0) this.moved.set(clientId, { filters: direct, at: this.now() });
  }

  /** The session is held here again. */
  forget(clientId: string): void {
    this.moved.delete(clientId);
  }

  /**
   * Whether a forwarded `message`, routed by its sender at `routedAt` at the latest (0:
   * unknown), may have been meant for a session that left since; false at once (and
   * cheaply) when none left lately.
   */
  routedFor(message: Message, routedAt = 0): boolean {
    if (this.moved.size === 0 || message.qos === 0) return false;
    this.sweep();
    for (const { filters, at } of this.moved.values()) {
      if (routedAt > at + CLOCK_MARGIN_MS) continue;
      if (filters.some((filter) => topicMatches(filter, message.topic))) return true;
    }
    return false;
  }

  private sweep(): void {
    const oldest = this.now() - REMEMBER_MS;
    for (const [clientId, { at }] of this.moved) {
      if (at >= oldest) return;
      this.moved.delete(clientId);
    }
  }
}
