// Retained messages in Redis (cluster mode).
//
// Keys, shown with the default prefix (the `{retained}` hash tag keeps them in one Cluster slot):
//   roost:{retained}:topic:T  string  JSON message for topic T: an exact lookup is one GET
//   roost:{retained}:index    zset    every retained topic, all with score 0, so ordered by bytes
//
// A wildcard filter reads the index with ZRANGEBYLEX over the filter's literal prefix (its
// levels before the first wildcard), keeps the topics `topicMatches` accepts, and MGETs only
// those. Cost: O(log N + K) index reads for K topics under the prefix; a filter that starts
// with a wildcard (`+/x`, `#`) reads the whole index (names only, paged), never SCANs the
// keyspace and never fetches a message it does not return. count() is ZCARD, O(1).
//
// Why one slot: set and delete change a message and the index in one MULTI, so concurrent
// writers from several nodes can never leave a message the index does not list, and a match
// can MGET. The price is that all retained messages live on one shard of a Redis Cluster;
// if they outgrow it, per-topic slots with index-first writes are the way out.
import type { Cluster, Redis } from 'ioredis';
import type { Message } from '@roost/protocol';
import type { RetainedStore } from '@roost/session';
import { topicMatches } from '@roost/topics';
import { decodeMessage, encodeMessage } from './codec.ts';
import { execReplies, guard } from './errors.ts';

const INDEX_PAGE = 1000;
const FETCH_BATCH = 500;
/** Above every byte of UTF-8, so `[prefix` .. `[prefix\xff` spans every topic starting with prefix. */
const AFTER_UTF8 = Buffer.from([0xff]);

type RedisClient = Redis | Cluster;

export class RedisRetainedStore implements RetainedStore {
  private readonly client: RedisClient;
  private readonly topicPrefix: string;
  private readonly indexKey: string;

  /** `client` stays the caller's to configure and quit; `prefix` namespaces every key. */
  constructor(client: RedisClient, prefix = 'roost:') {
    this.client = client;
    this.topicPrefix = `${prefix}{retained}:topic:`;
    this.indexKey = `${prefix}{retained}:index`;
  }

  count(): Promise<number> {
    return guard('count', () => this.client.zcard(this.indexKey));
  }

  async set(message: Message): Promise<void> {
    const write = this.client.multi().set(this.topicPrefix + message.topic, encodeMessage(message)).zadd(this.indexKey, 0, message.topic);
    await guard('set', () => write.exec().then(execReplies));
  }

  async delete(topic: string): Promise<void> {
    const write = this.client.multi().del(this.topicPrefix + topic).zrem(this.indexKey, topic);
    await guard('delete', () => write.exec().then(execReplies));
  }

  async match(filter: string): Promise<Message[]> {
    const literal = literalPrefix(filter);
    if (literal === undefined) {
      const text = await guard('match', () => this.client.get(this.topicPrefix + filter));
      return text === null ? [] : [decodeMessage(text)];
    }
    const topics = (await guard('match', () => this.indexRange(literal))).filter((topic) => topicMatches(filter, topic));
    const texts = await guard('match', () => this.fetch(topics));
    return texts.map(decodeMessage);
  }

  /** Every indexed topic starting with `literal`, read in pages so no reply is unbounded. */
  private async indexRange(literal: string): Promise<string[]> {
    const max = literal === '' ? '+' : Buffer.concat([Buffer.from(`[${literal}`), AFTER_UTF8]);
    const topics: string[] = [];
    let min: string = literal === '' ? '-' : `[${literal}`;
    for (;;) {
      const page = await this.client.zrangebylex(this.indexKey, min, max, 'LIMIT', 0, INDEX_PAGE);
      topics.push(...page);
      if (page.length < INDEX_PAGE) return topics;
      min = `(${page[page.length - 1]}`;
    }
  }

  /** The stored messages of `topics`; one deleted since the index read is skipped. */
  private async fetch(topics: string[]): Promise<string[]> {
    const found: string[] = [];
    for (let i = 0; i < topics.length; i += FETCH_BATCH) {
      const keys = topics.slice(i, i + FETCH_BATCH).map((topic) => this.topicPrefix + topic);
      for (const text of await this.client.mget(keys)) if (text !== null) found.push(text);
    }
    return found;
  }
}

/**
 * The part of `filter` that every matching topic starts with: the levels before the first
 * wildcard, with their separator when `+` follows (it needs one more level) and without it
 * when `#` follows (it also matches the parent: `a/#` matches `a` [MQTT-4.7.1-2]).
 * Undefined for a filter without wildcards: it names one topic.
 */
export function literalPrefix(filter: string): string | undefined {
  const levels = filter.split('/');
  const first = levels.findIndex((level) => level === '+' || level === '#');
  if (first < 0) return undefined;
  if (first === 0) return '';
  const literal = levels.slice(0, first).join('/');
  return levels[first] === '+' ? `${literal}/` : literal;
}
