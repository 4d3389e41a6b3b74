import type { Session, SessionStore } from '@roost/session';
import type { Logger } from './options.ts';

/**
 * The sessions this node holds, connected or not, and their persistence. Changes mark a
 * session dirty; one flush per event-loop turn writes every dirty session to the store, so a
 * burst of packets costs one write per session, not one per packet. Callers that must not
 * acknowledge before the state is durable (PUBACK, SUBACK) wait on `flushed()`.
 */
export class SessionKeeper {
  readonly held = new Map<string, Session>();
  /** Sessions the store has a record of (read from it or written to it by this node). */
  private readonly stored = new WeakSet<Session>();
  /** Sessions let go of for another node to hold (`release`). */
  private readonly letGo = new WeakSet<Session>();
  private readonly store: SessionStore;
  private readonly log: Logger;
  private dirty = new Set<Session>();
  private scheduled: Promise<void> | undefined;

  private readonly onFailure: () => void;

  /** `onFailure` counts each failed flush (the store unreachable, say). */
  constructor(store: SessionStore, log: Logger, onFailure: () => void = () => {}) {
    this.store = store;
    this.log = log;
    this.onFailure = onFailure;
  }

  /** A session held here, else the stored one (a reconnect after another node held it). */
  load(clientId: string): Promise<Session | undefined> {
    const held = this.held.get(clientId);
    if (held) return Promise.resolve(held);
    // Not an async function: its frame would wait on the store for every CONNECT in flight.
    return this.store.get(clientId).then(this.noteStored);
  }

  private readonly noteStored = (session: Session | undefined): Session | undefined => {
    if (session) this.stored.add(session);
    return session;
  };

  /**
   * Holds a session for its connection. A new session that ends with its connection (expiry
   * 0) is not written to a persistent store: a clean connect and disconnect in cluster mode
   * then cost no session write or delete in Redis. A stored one is rewritten, so its record
   * carries the expiry this connection asked for.
   */
  async hold(session: Session): Promise<void> {
    this.held.set(session.clientId, session);
    if (this.store.persistent && !this.stored.has(session) && !outlivesConnection(session)) return;
    await this.put(session);
  }

  /**
   * The session changed; it is written on the next flush if it outlives its connection, or
   * if it is a shared-subscription member: what it holds unacknowledged must survive this
   * node, so a survivor can hand it to another member. Only sessions held here are written,
   * so a late touch cannot bring back a session that ended or moved.
   */
  touch(session: Session): void {
    if (!this.store.persistent || this.held.get(session.clientId) !== session) return;
    if (!outlivesConnection(session)) return;
    this.dirty.add(session);
    this.scheduled ??= this.flushSoon();
  }

  /** Resolves once every change made so far is in the store; rejects if the store failed. */
  flushed(): Promise<void> {
    return this.scheduled ?? Promise.resolve();
  }

  get pending(): boolean {
    return this.scheduled !== undefined;
  }

  private async flushSoon(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const batch = this.dirty;
    this.dirty = new Set();
    this.scheduled = undefined;
    try {
      await Promise.all([...batch].map((session) => this.put(session)));
    } catch (error) {
      // The sessions stay dirty so the next flush retries them; waiters learn of the failure.
      for (const session of batch) this.dirty.add(session);
      this.onFailure();
      this.log.warn({ err: error, sessions: batch.size }, 'session flush failed');
      throw error;
    }
  }

  /** Forgets a session here and in the store (it ended); one never stored costs the store nothing. */
  async drop(clientId: string): Promise<void> {
    const session = this.held.get(clientId);
    if (session) this.dirty.delete(session);
    this.held.delete(clientId);
    if (session && !this.stored.has(session)) return;
    await this.store.delete(clientId);
  }

  /** Lets go of a session another node now holds, without deleting it from the store. */
  release(clientId: string): Session | undefined {
    const session = this.held.get(clientId);
    if (session) {
      this.dirty.delete(session);
      this.letGo.add(session);
    }
    this.held.delete(clientId);
    return session;
  }

  /** True once `release` let go of this session: another node holds it now. */
  released(session: Session): boolean {
    return this.letGo.has(session);
  }

  /** Writes a session now (takeover hands it over through the store). */
  async save(session: Session): Promise<void> {
    this.dirty.delete(session);
    await this.put(session);
  }

  private async put(session: Session): Promise<void> {
    // Marked before the write: a failed write may still have landed, and a drop must delete it.
    this.stored.add(session);
    await this.store.put(session);
  }
}

/**
 * Whether the session's state must outlive this node: it survives its connection, or it is a
 * shared-subscription member, whose unacknowledged messages a survivor hands to another member.
 */
function outlivesConnection(session: Session): boolean {
  return session.expiryInterval > 0 || hasSharedSubscription(session);
}

function hasSharedSubscription(session: Session): boolean {
  for (const filter of session.subscriptions.keys()) if (filter.startsWith('$share/')) return true;
  return false;
}
