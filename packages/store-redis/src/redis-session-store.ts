// Sessions in Redis (cluster mode), so a session outlives the node that held it.
//
// Keys, shown with the default prefix; C is the client id. The `{C}` hash tag puts one
// session's keys in one Redis Cluster slot, so MULTI and the enqueue script may touch them all.
//   roost:session:{C}       hash  v (schema version), expiryInterval, disconnectedAt (absent
//                                 while connected), subscriptions (JSON [filter, options][]),
//                                 recentIds (JSON; written by earlier versions, read once)
//   roost:recent:{C}        list  ids of the identified messages lately delivered, oldest
//                                 first; appended per write and trimmed to RECENT_IDS_KEPT
//   roost:inflight:{C}      hash  packet id → JSON { order, phase, delivery }; `order` restores
//                                 send order, which a hash does not keep [MQTT-4.6.0-1]
//   roost:queue:{C}         list  JSON deliveries, oldest first
//   roost:inbound:{C}       hash  QoS 2 packet id received, not yet released → message id [MQTT-4.3.3-9]
//   roost:sessions          set   every stored client id (count)
//   roost:sessions:offline  set   client ids stored while disconnected (offline())
//
// A session's own keys change together in one MULTI. The two index sets live in other slots,
// so they are written outside it, in an order that leaves at worst a stale id behind (never
// an unindexed session) if the node dies in between: ids are added before the session is
// written and removed after it is deleted. Readers skip ids whose session is gone.
import type { Cluster, Redis } from 'ioredis';
import { RECENT_IDS_KEPT, Session, type Delivery, type QueueLimits, type SessionStore } from '@roost/session';
import type { SubscriptionOptions } from '@roost/protocol';
import { SCHEMA_VERSION, decodeDelivery, decodeInflight, encodeDelivery, encodeInflight } from './codec.ts';
import { execReplies, guard } from './errors.ts';

/**
 * KEYS: session hash, queue list. ARGV: delivery, limit, policy.
 * Mirrors Session.enqueue atomically: push while below the limit; when full, drop-newest
 * refuses the delivery and drop-oldest pops the head to make room. Returns what was dropped.
 * A session that is not stored gets nothing queued, like the in-memory store.
 */
const ENQUEUE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local limit = tonumber(ARGV[2])
if redis.call('LLEN', KEYS[2]) < limit then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return false
end
if ARGV[3] == 'drop-newest' or limit <= 0 then return ARGV[1] end
local dropped = redis.call('LPOP', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
return dropped
`;

const ENQUEUE_COMMAND = 'roostEnqueue';

/**
 * KEYS: session hash, inflight hash, queue list, inbound hash, recent list. Atomic, so a
 * snapshot, never half of a concurrent put. False when no session is stored (most CONNECTs),
 * else the five replies, hashes as flat [field, value, ...] lists. One script call rather than a
 * MULTI of five reads: ioredis builds a Pipeline per MULTI, with a copy of every defined
 * command, and a cluster CONNECT's garbage is what grows a node's heap (docs/benchmarks.md).
 */
const GET_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return { redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('LRANGE', KEYS[3], 0, -1), redis.call('HGETALL', KEYS[4]), redis.call('LRANGE', KEYS[5], 0, -1) }
`;

const GET_COMMAND = 'roostSessionGet';

/**
 * KEYS: queue list. ARGV: the length the writer last stored, items to drop from the head,
 * then items to append. Refuses (and changes nothing) when the list is not as the writer last
 * left it, e.g. after a failed write; the writer then rewrites the whole queue.
 */
const QUEUE_UPDATE_SCRIPT = `
if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return redis.error_reply('ROOST_QUEUE_DIVERGED the stored queue changed') end
if tonumber(ARGV[2]) > 0 then redis.call('LTRIM', KEYS[1], ARGV[2], -1) end
if #ARGV > 2 then redis.call('RPUSH', KEYS[1], unpack(ARGV, 3)) end
return 1
`;

// Beyond this many appended items a put rewrites the queue: Lua's unpack has a stack limit.
const MAX_APPENDED_PER_UPDATE = 1000;
const OFFLINE_SCAN_BATCH = 200;

type RedisClient = Redis | Cluster;

interface EnqueueCommand {
  [ENQUEUE_COMMAND](sessionKey: string, queueKey: string, delivery: string, limit: string, policy: string): Promise<string | null>;
  [GET_COMMAND](session: string, inflight: string, queue: string, inbound: string, recent: string): Promise<StoredSession | null>;
}

/** GET_SCRIPT's reply: the session hash, in-flight hash, queue, inbound hash and recent ids. */
type StoredSession = [string[], string[], string[], string[], string[]];

interface SessionKeys {
  session: string;
  inflight: string;
  queue: string;
  inbound: string;
  recent: string;
}

export class RedisSessionStore implements SessionStore {
  readonly persistent = true;
  private readonly client: RedisClient & EnqueueCommand;
  private readonly prefix: string;
  private readonly allKey: string;
  private readonly offlineKey: string;
  /**
   * Sessions whose stored queue is what their Fifo recorded at its last mark(): their next put
   * writes only the queue's change. Any failed put removes its session, forcing a full write.
   */
  private readonly inStep = new WeakSet<Session>();

  /** `client` stays the caller's to configure and quit; `prefix` namespaces every key. */
  constructor(client: RedisClient, prefix = 'roost:') {
    client.defineCommand(ENQUEUE_COMMAND, { numberOfKeys: 2, lua: ENQUEUE_SCRIPT });
    client.defineCommand(GET_COMMAND, { numberOfKeys: 5, lua: GET_SCRIPT });
    this.client = client as RedisClient & EnqueueCommand;
    this.prefix = prefix;
    this.allKey = `${prefix}sessions`;
    this.offlineKey = `${prefix}sessions:offline`;
  }

  private keys(clientId: string): SessionKeys {
    const tag = `{${clientId}}`;
    return {
      session: `${this.prefix}session:${tag}`,
      inflight: `${this.prefix}inflight:${tag}`,
      queue: `${this.prefix}queue:${tag}`,
      inbound: `${this.prefix}inbound:${tag}`,
      recent: `${this.prefix}recent:${tag}`,
    };
  }

  count(): Promise<number> {
    return guard('count', () => this.client.scard(this.allKey));
  }

  get(clientId: string): Promise<Session | undefined> {
    const keys = this.keys(clientId);
    return guard('get', () => this.client[GET_COMMAND](keys.session, keys.inflight, keys.queue, keys.inbound, keys.recent)).then((stored) =>
      stored === null ? undefined : this.read(clientId, stored),
    );
  }

  private read(clientId: string, stored: StoredSession): Session | undefined {
    const [fieldList, inflightList, queue, inboundList, recent] = stored;
    const fields = record(fieldList);
    if (fields.v === undefined) return undefined;
    const session = rebuildSession(clientId, fields, record(inflightList), queue, record(inboundList));
    for (const id of recent) session.firstSight(id);
    session.takeFreshIds(); // they are stored already
    session.queue.mark();
    this.inStep.add(session);
    return session;
  }

  async put(session: Session): Promise<void> {
    try {
      await this.write(session);
    } catch (error) {
      this.inStep.delete(session); // what Redis holds is unknown now: the next write is whole
      if (error instanceof Error && error.message.startsWith('ROOST_QUEUE_DIVERGED')) return this.write(session);
      throw error;
    }
  }

  private async write(session: Session): Promise<void> {
    const { clientId } = session;
    const keys = this.keys(clientId);
    const offline = session.disconnectedAt !== undefined;
    // The queue can be long and changes at its ends: written as a change when this store wrote
    // or read it last; the rest is small and rewritten.
    const change = this.inStep.has(session) ? session.queue.changes() : undefined;
    const incremental = change !== undefined && change.pushed.length <= MAX_APPENDED_PER_UPDATE;
    const transaction = this.client.multi().del(keys.session, keys.inflight, keys.inbound, ...(incremental ? [] : [keys.queue]));
    transaction.hset(keys.session, sessionFields(session));
    if (session.inflight.size > 0) {
      let order = 0;
      const entries: Record<string, string> = {};
      for (const [id, inflight] of session.inflight) entries[id] = encodeInflight(inflight, order++);
      transaction.hset(keys.inflight, entries);
    }
    if (incremental) {
      if (change.shifted > 0 || change.pushed.length > 0) {
        const update = [String(change.length), String(change.shifted), ...change.pushed.map(encodeDelivery)];
        // EVAL, not EVALSHA: inside MULTI a NOSCRIPT (a restarted Redis) could not be retried.
        transaction.eval(QUEUE_UPDATE_SCRIPT, 1, keys.queue, ...update);
      }
    } else if (session.queue.length > 0) {
      transaction.rpush(keys.queue, ...Array.from(session.queue, encodeDelivery));
    }
    // Message ids too: appended when in step, like the queue, else rewritten.
    const freshIds = session.takeFreshIds();
    if (!incremental) transaction.del(keys.recent);
    const ids = incremental ? freshIds : session.recentMessageIds;
    if (ids.length > 0) transaction.rpush(keys.recent, ...ids).ltrim(keys.recent, -RECENT_IDS_KEPT, -1);
    session.queue.mark();
    this.inStep.add(session);
    if (session.inboundQos2.size > 0) transaction.hset(keys.inbound, Object.fromEntries(session.inboundQos2));
    await guard('put', () => {
      // Issued in this order without awaiting in between, so one connection sends them in it.
      const writes: Promise<unknown>[] = [this.client.sadd(this.allKey, clientId)];
      if (offline) writes.push(this.client.sadd(this.offlineKey, clientId));
      writes.push(transaction.exec().then(execReplies));
      if (!offline) writes.push(this.client.srem(this.offlineKey, clientId));
      return Promise.all(writes);
    });
  }

  delete(clientId: string): Promise<void> {
    return guard('delete', async () => {
      const keys = this.keys(clientId);
      await Promise.all([
        this.client.del(keys.session, keys.inflight, keys.queue, keys.inbound, keys.recent),
        this.client.srem(this.allKey, clientId),
        this.client.srem(this.offlineKey, clientId),
      ]);
    });
  }

  async enqueue(clientId: string, delivery: Delivery, limits: QueueLimits): Promise<Delivery | undefined> {
    const keys = this.keys(clientId);
    const item = encodeDelivery(delivery);
    const limit = String(Math.max(0, Math.floor(Math.min(limits.maxQueuedMessages, Number.MAX_SAFE_INTEGER))));
    const dropped = await guard('enqueue', () => this.client[ENQUEUE_COMMAND](keys.session, keys.queue, item, limit, limits.queueOverflow));
    return dropped === null ? undefined : decodeDelivery(dropped);
  }

  /**
   * Walks the offline index with SSCAN, so a large index is read in batches rather than in one
   * blocking reply. SSCAN may repeat an id; each is yielded once.
   */
  async *offline(): AsyncIterable<Session> {
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, ids] = await guard('offline', () => this.client.sscan(this.offlineKey, cursor, 'COUNT', OFFLINE_SCAN_BATCH));
      cursor = next;
      const fresh = ids.filter((id) => !seen.has(id));
      for (const id of fresh) seen.add(id);
      const sessions = await Promise.all(fresh.map((id) => this.get(id)));
      for (const session of sessions) if (session?.disconnectedAt !== undefined) yield session;
    } while (cursor !== '0');
  }
}

function sessionFields(session: Session): Record<string, string> {
  const fields: Record<string, string> = {
    v: String(SCHEMA_VERSION),
    expiryInterval: String(session.expiryInterval),
    subscriptions: JSON.stringify([...session.subscriptions]),
  };
  if (session.disconnectedAt !== undefined) fields.disconnectedAt = String(session.disconnectedAt);
  return fields;
}

/**
 * The packet id counter is private to Session, so a rebuilt session allocates from 1 again;
 * allocatePacketId skips ids in flight, so no id in use is ever handed out twice.
 */
/** HGETALL's flat [field, value, ...] reply as a script returns it, as ioredis's hgetall would give it. */
function record(flat: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}

function rebuildSession(
  clientId: string,
  fields: Record<string, string>,
  inflight: Record<string, string>,
  queue: string[],
  inbound: Record<string, string>,
): Session {
  const session = new Session(clientId, Number(fields.expiryInterval));
  if (fields.disconnectedAt !== undefined) session.disconnectedAt = Number(fields.disconnectedAt);
  for (const [filter, options] of JSON.parse(fields.subscriptions ?? '[]') as [string, SubscriptionOptions][]) {
    session.subscriptions.set(filter, options);
  }
  for (const [id, entry] of decodeInflight(inflight)) session.inflight.set(id, entry);
  for (const text of queue) session.queue.push(decodeDelivery(text));
  for (const [packetId, messageId] of Object.entries(inbound)) session.inboundQos2.set(Number(packetId), messageId);
  for (const id of JSON.parse(fields.recentIds ?? '[]') as string[]) session.firstSight(id);
  return session;
}
