// Which node holds each session (cluster mode), fenced by a per-client epoch.
//
// Keys, shown with the default prefix; C is a client id, N a node id, \0 a NUL byte:
//   roost:{directory}:epochs   hash  C → latest epoch; never deleted, so an epoch is never reused
//   roost:{directory}:holders  hash  C → N, the holder; removed by a current release
//   roost:{directory}:held     zset  "N\0C" for every held client, score 0 (ordered by bytes),
//                                    so heldBy(N) is one ZRANGEBYLEX over the "N\0" prefix
//
// Why one slot (`{directory}`): claim and release change the epoch, the holder and the index in
// one script, so the index can never disagree with the holders, and a script may only touch
// keys of one Redis Cluster slot. The price is that the directory lives on one shard.
// Why a zset rather than a set per node: the previous holder's index would be a key the script
// learns only while running; the zset keeps every key the scripts touch declared.
// MQTT strings carry no U+0000 [MQTT-1.5.4-2] and node ids are ours, so NUL separates safely.
import type { Cluster, Redis } from 'ioredis';
import type { ListPosition, SessionDirectory } from '@roost/broker';
import { guard } from './errors.ts';

/**
 * KEYS: epochs, holders, held. ARGV: client id, node id.
 * Returns { epoch, previous holder or false }.
 */
const CLAIM_SCRIPT = `
local epoch = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local previous = redis.call('HGET', KEYS[2], ARGV[1])
if previous then redis.call('ZREM', KEYS[3], previous .. '\\0' .. ARGV[1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2] .. '\\0' .. ARGV[1])
return { epoch, previous }
`;

/**
 * KEYS: epochs, holders, held. ARGV: client id, node id, expected holder.
 * As CLAIM_SCRIPT, only while the expected holder still holds the client; else false.
 */
const CLAIM_FROM_SCRIPT = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then return false end
local epoch = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('ZREM', KEYS[3], ARGV[3] .. '\\0' .. ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2] .. '\\0' .. ARGV[1])
return epoch
`;

/** KEYS: epochs, holders, held. ARGV: client id, epoch. 1 when released, 0 when the epoch is stale. */
const RELEASE_SCRIPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
local holder = redis.call('HGET', KEYS[2], ARGV[1])
if not holder then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], holder .. '\\0' .. ARGV[1])
return 1
`;

/**
 * KEYS: epochs, holders. ARGV: client id, epoch. 1 when that epoch is the latest and the client
 * is held. A script rather than a MULTI of two reads: ioredis builds a Pipeline per MULTI, with
 * a copy of every defined command, on every cluster CONNECT.
 */
const HOLDS_SCRIPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
return redis.call('HEXISTS', KEYS[2], ARGV[1])
`;

const CLAIM_COMMAND = 'roostSessionClaim';
const HOLDS_COMMAND = 'roostSessionHolds';
const CLAIM_FROM_COMMAND = 'roostSessionClaimFrom';
const RELEASE_COMMAND = 'roostSessionRelease';
const INDEX_PAGE = 1000;
/** Round trips one listing page may take to skip from node to node under a prefix; past it, the page ends early. */
const MAX_PAGE_STEPS = 32;
/** Above every byte of UTF-8, so `[N\0` .. `[N\0\xff` spans every entry of node N. */
const AFTER_UTF8 = Buffer.from([0xff]);

type RedisClient = Redis | Cluster;

interface DirectoryCommands {
  [CLAIM_COMMAND](epochs: string, holders: string, held: string, clientId: string, nodeId: string): Promise<[number, string | null]>;
  [CLAIM_FROM_COMMAND](epochs: string, holders: string, held: string, clientId: string, nodeId: string, holder: string): Promise<number | null>;
  [RELEASE_COMMAND](epochs: string, holders: string, held: string, clientId: string, epoch: string): Promise<number>;
  [HOLDS_COMMAND](epochs: string, holders: string, clientId: string, epoch: string): Promise<number>;
}

export class RedisSessionDirectory implements SessionDirectory {
  private readonly client: RedisClient & DirectoryCommands;
  private readonly epochsKey: string;
  private readonly holdersKey: string;
  private readonly heldKey: string;

  /** `client` stays the caller's to configure and quit; `prefix` namespaces every key. */
  constructor(client: RedisClient, prefix = 'roost:') {
    client.defineCommand(CLAIM_COMMAND, { numberOfKeys: 3, lua: CLAIM_SCRIPT });
    client.defineCommand(CLAIM_FROM_COMMAND, { numberOfKeys: 3, lua: CLAIM_FROM_SCRIPT });
    client.defineCommand(RELEASE_COMMAND, { numberOfKeys: 3, lua: RELEASE_SCRIPT });
    client.defineCommand(HOLDS_COMMAND, { numberOfKeys: 2, lua: HOLDS_SCRIPT });
    this.client = client as RedisClient & DirectoryCommands;
    this.epochsKey = `${prefix}{directory}:epochs`;
    this.holdersKey = `${prefix}{directory}:holders`;
    this.heldKey = `${prefix}{directory}:held`;
  }

  claim(clientId: string, nodeId: string): Promise<{ epoch: number; previous?: string }> {
    return guard('claim', () => this.client[CLAIM_COMMAND](this.epochsKey, this.holdersKey, this.heldKey, clientId, nodeId)).then(claimed);
  }

  async claimFrom(clientId: string, nodeId: string, holder: string): Promise<number | undefined> {
    const epoch = await guard('claimFrom', () =>
      this.client[CLAIM_FROM_COMMAND](this.epochsKey, this.holdersKey, this.heldKey, clientId, nodeId, holder),
    );
    return epoch ?? undefined;
  }

  holds(clientId: string, epoch: number): Promise<boolean> {
    return guard('holds', () => this.client[HOLDS_COMMAND](this.epochsKey, this.holdersKey, clientId, String(epoch))).then(isOne);
  }

  async holder(clientId: string): Promise<string | undefined> {
    return (await guard('holder', () => this.client.hget(this.holdersKey, clientId))) ?? undefined;
  }

  async release(clientId: string, epoch: number): Promise<void> {
    await guard('release', () => this.client[RELEASE_COMMAND](this.epochsKey, this.holdersKey, this.heldKey, clientId, String(epoch)));
  }

  /** Read in pages, so a node holding many sessions never gets one unbounded reply. */
  async heldBy(nodeId: string): Promise<string[]> {
    const start = `${nodeId}\0`;
    const max = Buffer.concat([Buffer.from(`[${start}`), AFTER_UTF8]);
    const clientIds: string[] = [];
    let min = `[${start}`;
    for (;;) {
      const page = await guard('heldBy', () => this.client.zrangebylex(this.heldKey, min, max, 'LIMIT', 0, INDEX_PAGE));
      for (const entry of page) clientIds.push(entry.slice(start.length));
      if (page.length < INDEX_PAGE) return clientIds;
      min = `(${page[page.length - 1]}`;
    }
  }

  /**
   * The `held` index is ordered by "N\0C", so a page is one ZRANGEBYLEX after the cursor. With a
   * prefix, each node's entries under it are one range ("N\0P" .. "N\0P\xff"), and the next
   * node is the first entry past "N\0\xff": a few round trips per node that has sessions, at
   * most MAX_PAGE_STEPS per page, whatever the number of sessions.
   */
  async page(options: { limit: number; after?: ListPosition; prefix?: string }): Promise<{ entries: ListPosition[]; next?: ListPosition }> {
    const { limit, prefix = '' } = options;
    const entries: ListPosition[] = [];
    let cursor = options.after && `${options.after.nodeId}\0${options.after.clientId}`;
    const range = (min: string | Buffer, max: string | Buffer, count: number) =>
      guard('page', () => this.client.zrangebylex(this.heldKey, min, max, 'LIMIT', 0, count));
    for (let step = 0; step < MAX_PAGE_STEPS; step++) {
      const want = limit - entries.length;
      if (prefix === '') {
        const found = await range(cursor === undefined ? '-' : `(${cursor}`, '+', want);
        entries.push(...found.map(positionOf));
        if (found.length < want) return { entries };
        return { entries, next: positionOf(found.at(-1)!) };
      }
      if (cursor === undefined) {
        const [first] = await range('-', '+', 1);
        if (first === undefined) return { entries };
        cursor = `${positionOf(first).nodeId}\0`;
      }
      const { nodeId } = positionOf(cursor);
      const low = `${nodeId}\0${prefix}`;
      const min = Buffer.compare(Buffer.from(cursor), Buffer.from(low)) >= 0 ? `(${cursor}` : `[${low}`;
      const found = await range(min, Buffer.concat([Buffer.from(`[${low}`), AFTER_UTF8]), want);
      entries.push(...found.map(positionOf));
      if (found.length === want) return { entries, next: positionOf(found.at(-1)!) };
      const [following] = await range(Buffer.concat([Buffer.from(`(${nodeId}\0`), AFTER_UTF8]), '+', 1);
      if (following === undefined) return { entries };
      cursor = `${positionOf(following).nodeId}\0`;
    }
    return { entries, next: positionOf(cursor!) };
  }
}

function claimed([epoch, previous]: [number, string | null]): { epoch: number; previous?: string } {
  return previous === null ? { epoch } : { epoch, previous };
}

function isOne(reply: number): boolean {
  return reply === 1;
}

/** "N\0C" → { nodeId: N, clientId: C }. */
function positionOf(member: string): ListPosition {
  const split = member.indexOf('\0');
  return { nodeId: member.slice(0, split), clientId: member.slice(split + 1) };
}
