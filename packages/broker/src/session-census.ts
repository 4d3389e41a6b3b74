import type { Session } from '@roost/session';
import type { Connection } from './connection.ts';
import { Distribution } from './distribution.ts';
import type { Retainer } from './retainer.ts';

/** Queue lengths: the default ROOST_MAX_QUEUED_MESSAGES is 1000, so the top buckets show a queue near it. */
const QUEUE_BOUNDS = [0, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000];
/** In-flight counts: the default window (ROOST_MAX_INFLIGHT) is 32. */
const INFLIGHT_BOUNDS = [0, 1, 2, 5, 10, 20, 32, 64, 128, 256];
/**
 * Samples are taken at a scrape, at most this often, so scrapes in a tight loop (or many
 * Prometheus servers) cost one walk over the sessions per second at most.
 */
const SAMPLE_INTERVAL_MS = 1000;

/**
 * What operators ask about the sessions a node holds, answered at scrape time from the
 * broker's own maps: how many are connected or offline, and, sampled over every session,
 * how long their queues and in-flight windows are. Nothing is counted on the message path.
 */
export class SessionCensus {
  readonly queued = new Distribution(QUEUE_BOUNDS);
  readonly inflight = new Distribution(INFLIGHT_BOUNDS);
  private readonly held: ReadonlyMap<string, Session>;
  private readonly connections: ReadonlyMap<string, Connection>;
  private readonly retainer: Retainer;
  private sampledAt = -Infinity;

  constructor(held: ReadonlyMap<string, Session>, connections: ReadonlyMap<string, Connection>, retainer: Retainer) {
    this.held = held;
    this.connections = connections;
    this.retainer = retainer;
  }

  /** Sessions held here: with a connection, and persistent ones awaiting their client. */
  sessions(): { connected: number; offline: number } {
    let connected = 0;
    for (const session of this.held.values()) if (this.connections.get(session.clientId)?.channel.session === session) connected++;
    return { connected, offline: this.held.size - connected };
  }

  /** Retained messages in the store (cluster-wide in cluster mode), $SYS ones aside. */
  retained(): Promise<number> {
    return this.retainer.count();
  }

  /** Adds every held session's queue length and in-flight count to the histograms, unless sampled within the interval. */
  sample(now = Date.now()): void {
    if (now - this.sampledAt < SAMPLE_INTERVAL_MS) return;
    this.sampledAt = now;
    for (const session of this.held.values()) {
      this.queued.observe(session.queue.length);
      this.inflight.observe(session.inflight.size);
    }
  }
}
