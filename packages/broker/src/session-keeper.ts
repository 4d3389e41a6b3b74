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
  async load(clientId: string): Promise<Session | undefined> {
    return this.held.get(clientId) ?? (await this.store.get(clientId));
  }

  async hold(session: Session): Promise<void> {
    this.held.set(session.clientId, session);
    await this.store.put(session);
  }

  /**
   * The session changed; it is written on the next flush if it outlives its connection, or
   * if it is a shared-subscription member: what it holds unacknowledged must survive this
   * node, so a survivor can hand it to another member. Only sessions held here are written,
   * so a late touch cannot bring back a session that ended or moved.
   */
  touch(session: Session): void {
    if (!this.store.persistent || this.held.get(session.clientId) !== session) return;
    if (session.expiryInterval === 0 && !hasSharedSubscription(session)) return;
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
      await Promise.all([...batch].map((session) => this.store.put(session)));
    } catch (error) {
      // The sessions stay dirty so the next flush retries them; waiters learn of the failure.
      for (const session of batch) this.dirty.add(session);
      this.onFailure();
      this.log.warn({ err: error, sessions: batch.size }, 'session flush failed');
      throw error;
    }
  }

  /** Forgets a session here and in the store (it ended). */
  async drop(clientId: string): Promise<void> {
    const session = this.held.get(clientId);
    if (session) this.dirty.delete(session);
    this.held.delete(clientId);
    await this.store.delete(clientId);
  }

  /** Lets go of a session another node now holds, without deleting it from the store. */
  release(clientId: string): Session | undefined {
    const session = this.held.get(clientId);
    if (session) this.dirty.delete(session);
    this.held.delete(clientId);
    return session;
  }

  /** Writes a session now (takeover hands it over through the store). */
  async save(session: Session): Promise<void> {
    this.dirty.delete(session);
    await this.store.put(session);
  }
}

function hasSharedSubscription(session: Session): boolean {
  for (const filter of session.subscriptions.keys()) if (filter.startsWith('$share/')) return true;
  return false;
}
