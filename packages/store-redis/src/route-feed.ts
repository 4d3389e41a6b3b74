// One watcher of the cluster route table: keeps a RouteListener's replica equal to the table.
//
// Protocol (the writer's side is redis-route-store.ts):
//   1. SUBSCRIBE to the change channel on a connection of its own, and wait for the reply, so
//      every change committed from then on will arrive.
//   2. Read version V and the whole table in one MULTI; `reset` the listener with it.
//   3. Apply changes in version order: skip those <= V (already in the snapshot), apply V+1,
//      V+2, ...; messages that arrive during step 2 wait in a buffer.
// Pub/sub is at-most-once: a message lost while the subscriber was away shows as a version
// gap, and a dropped connection ('ready' after 'close') may have lost the tail with no later
// message to reveal it. Either way the watcher starts again at step 1 (resync). A resync that
// fails (Redis still unreachable) is retried every resyncRetryMs; until one succeeds the
// replica is stale, never wrong in a way a resync does not repair.
import type { Cluster, Redis } from 'ioredis';
import type { RouteListener } from '@roost/broker';
import { guard } from './errors.ts';
import { parseChange, type Route, type VersionedChange } from './route-wire.ts';

type RedisClient = Redis | Cluster;

export interface RouteSnapshot {
  version: number;
  routes: Route[];
}

export interface RouteFeedOptions {
  channel: string;
  /** Reads the version and the table atomically, on a connection that is not subscribed. */
  load: () => Promise<RouteSnapshot>;
  resyncRetryMs: number;
  onError: (error: Error) => void;
}

export class RouteFeed {
  private readonly subscriber: RedisClient;
  private readonly listener: RouteListener;
  private readonly options: RouteFeedOptions;
  /** The version the next applied change must carry. */
  private expected = 0;
  /** Set while a (re)load is due or running: changes wait here instead of being applied. */
  private pending: VersionedChange[] | undefined;
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;
  private dropped = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  /** `subscriber` is this feed's own connection: it enters subscribe mode and is quit on close. */
  constructor(subscriber: RedisClient, listener: RouteListener, options: RouteFeedOptions) {
    this.subscriber = subscriber;
    this.listener = listener;
    this.options = options;
  }

  /** Resolves once the listener holds the whole table; rejects if it could not be loaded. */
  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, text: string) => this.onMessage(channel, text));
    this.subscriber.on('close', () => {
      this.dropped = true;
    });
    this.subscriber.on('ready', () => {
      if (!this.dropped) return;
      this.dropped = false;
      this.requestResync();
    });
    // ioredis reports every failed reconnect; the resync after 'ready' is what repairs them.
    this.subscriber.on('error', (error: Error) => this.options.onError(error));
    this.pending = [];
    this.resyncing = this.reloadUntilCurrent();
    try {
      await this.resyncing;
    } finally {
      this.resyncing = undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    // QUIT waits for a connection; one that is down or reconnecting has nothing to say goodbye to.
    if (this.subscriber.status === 'ready') await this.subscriber.quit().catch(() => this.subscriber.disconnect());
    else this.subscriber.disconnect();
  }

  private onMessage(channel: string, text: string): void {
    if (channel !== this.options.channel || this.closed) return;
    let change: VersionedChange;
    try {
      change = parseChange(text);
    } catch (error) {
      this.options.onError(error as Error);
      this.requestResync();
      return;
    }
    if (this.pending) this.pending.push(change);
    else this.apply(change);
  }

  private apply(change: VersionedChange): void {
    if (change.version < this.expected) return; // already in the snapshot
    if (change.version > this.expected) {
      // The snapshot a resync reads is taken after this message was sent, so it holds it too.
      this.requestResync();
      return;
    }
    this.expected++;
    try {
      this.listener.change({ op: change.op, filter: change.filter, nodeId: change.nodeId }, change.version);
    } catch (error) {
      this.options.onError(error as Error);
    }
  }

  private requestResync(): void {
    if (this.closed) return;
    this.pending ??= [];
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    clearTimeout(this.retryTimer);
    this.resyncing = this.reloadUntilCurrent()
      .catch((error: Error) => {
        this.options.onError(error);
        this.retryTimer = setTimeout(() => this.requestResync(), this.options.resyncRetryMs);
      })
      .finally(() => {
        this.resyncing = undefined;
      });
  }

  /** Reloads until no gap or reconnect was seen during the last reload. */
  private async reloadUntilCurrent(): Promise<void> {
    do {
      this.resyncAgain = false;
      await this.reload();
    } while (this.resyncAgain && !this.closed);
  }

  private async reload(): Promise<void> {
    this.pending ??= [];
    // The reply comes after the server processed the SUBSCRIBE (and ioredis' own resubscribe
    // before it), so nothing committed after the snapshot below can be missed.
    await guard('route watch', () => this.subscriber.subscribe(this.options.channel));
    const { version, routes } = await this.options.load();
    if (this.closed) return;
    this.listener.reset(routes, version);
    this.expected = version + 1;
    const buffered = this.pending;
    this.pending = undefined;
    for (const change of buffered) {
      if (this.pending) break; // a gap started another reload; it will cover the rest
      this.apply(change);
    }
  }
}
