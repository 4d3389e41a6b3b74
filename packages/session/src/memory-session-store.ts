import type { Delivery, Session } from './session.ts';
import type { QueueLimits, SessionStore } from './session-store.ts';

/** The embedded store: sessions are plain objects in this process. */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Session>();
  readonly persistent = false;

  async count(): Promise<number> {
    return this.sessions.size;
  }

  async get(clientId: string): Promise<Session | undefined> {
    return this.sessions.get(clientId);
  }

  async put(session: Session): Promise<void> {
    this.sessions.set(session.clientId, session);
  }

  async delete(clientId: string): Promise<void> {
    this.sessions.delete(clientId);
  }

  async enqueue(clientId: string, delivery: Delivery, limits: QueueLimits): Promise<Delivery | undefined> {
    const session = this.sessions.get(clientId);
    if (!session) return undefined;
    return session.enqueue(delivery, limits.maxQueuedMessages, limits.queueOverflow);
  }

  async *offline(): AsyncIterable<Session> {
    for (const session of this.sessions.values()) if (session.disconnectedAt !== undefined) yield session;
  }
}
