// The cluster route table (filter → nodes) in Redis, with a change feed for every node's replica.
//
// Keys, shown with the default prefix; N is a node id, R a route member (route-wire.ts):
//   roost:{routes}:table    set     R for every route: the whole table, one SMEMBERS
//   roost:{routes}:node:N   set     R for every route of node N, so removeNode need not scan
//   roost:{routes}:version  string  INCR counter: the version of the last change
//   roost:{routes}:changes  channel `<version> add|remove R`, one message per change
//
// Every change is one script: it updates both sets, INCRs the version and PUBLISHes the change
// carrying it, so a change and its message can never be seen apart, and versions are published
// in commit order without gaps. A no-op (adding a route that exists, removing one that does
// not) changes nothing, takes no version and publishes nothing; `add` answers a version at which
// its route is in the table either way, so a caller can wait until every replica reached it
// (SUBACK means routed, docs/cluster.md). removeNode publishes one
// removal per route (each with its own version), so replicas stay exact without a reload; it
// costs O(routes of the node) inside one script, run only when a node dies or starts afresh.
// One `{routes}` slot, because each script touches the table, a node's set and the version.
//
// The reading side (subscribe, snapshot, versions, resync) is route-feed.ts.
import { Cluster, type Redis } from 'ioredis';
import type { RouteListener, RouteStore } from '@roost/broker';
import { execReplies, guard } from './errors.ts';
import { RouteFeed, type RouteSnapshot } from './route-feed.ts';
import { decodeRoute, encodeRoute } from './route-wire.ts';

/**
 * KEYS: table, node set, version. ARGV: route member, channel. The new version; if the route
 * existed, the current one (a replica at it has the route too), so callers can always wait on it.
 */
const ADD_SCRIPT = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return tonumber(redis.call('GET', KEYS[3]) or '0') end
redis.call('SADD', KEYS[2], ARGV[1])
local version = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[2], string.format('%d add %s', version, ARGV[1]))
return version
`;

/** KEYS: table, node set, version. ARGV: route member, channel. The new version, or 0 if it was absent. */
const REMOVE_SCRIPT = `
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
local version = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[2], string.format('%d remove %s', version, ARGV[1]))
return version
`;

/** KEYS: table, node set, version. ARGV: channel. The number of routes removed. */
const REMOVE_NODE_SCRIPT = `
local removed = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('SREM', KEYS[1], member) == 1 then
    removed = removed + 1
    local version = redis.call('INCR', KEYS[3])
    redis.call('PUBLISH', ARGV[1], string.format('%d remove %s', version, member))
  end
end
redis.call('DEL', KEYS[2])
return removed
`;

const ADD_COMMAND = 'roostRouteAdd';
const REMOVE_COMMAND = 'roostRouteRemove';
const REMOVE_NODE_COMMAND = 'roostRouteRemoveNode';

type RedisClient = Redis | Cluster;

interface RouteCommands {
  [ADD_COMMAND](table: string, node: string, version: string, member: string, channel: string): Promise<number>;
  [REMOVE_COMMAND](table: string, node: string, version: string, member: string, channel: string): Promise<number>;
  [REMOVE_NODE_COMMAND](table: string, node: string, version: string, channel: string): Promise<number>;
}

export interface RouteStoreOptions {
  /** CLIENT SETNAME of each watcher's subscriber connection (plain Redis only), to find it in CLIENT LIST. */
  watcherName?: string;
  /** Delay before retrying a resync that failed. */
  resyncRetryMs?: number;
  /** A watcher's connection failed, a resync failed (it is retried), or a listener threw. */
  onError?: (error: Error) => void;
}

export class RedisRouteStore implements RouteStore {
  private readonly client: RedisClient & RouteCommands;
  private readonly prefix: string;
  private readonly tableKey: string;
  private readonly versionKey: string;
  private readonly channel: string;
  private readonly watcherName: string;
  private readonly resyncRetryMs: number;
  private readonly onError: (error: Error) => void;
  private readonly feeds = new Set<RouteFeed>();

  /**
   * `client` stays the caller's to configure and quit; each `watch` duplicates it for a
   * subscriber connection of its own, which `close` quits. `prefix` namespaces every key.
   */
  constructor(client: RedisClient, prefix = 'roost:', options: RouteStoreOptions = {}) {
    client.defineCommand(ADD_COMMAND, { numberOfKeys: 3, lua: ADD_SCRIPT });
    client.defineCommand(REMOVE_COMMAND, { numberOfKeys: 3, lua: REMOVE_SCRIPT });
    client.defineCommand(REMOVE_NODE_COMMAND, { numberOfKeys: 3, lua: REMOVE_NODE_SCRIPT });
    this.client = client as RedisClient & RouteCommands;
    this.prefix = prefix;
    this.tableKey = `${prefix}{routes}:table`;
    this.versionKey = `${prefix}{routes}:version`;
    this.channel = `${prefix}{routes}:changes`;
    this.watcherName = options.watcherName ?? 'roost-route-watch';
    this.resyncRetryMs = options.resyncRetryMs ?? 1000;
    this.onError = options.onError ?? ((error) => process.emitWarning(error));
  }

  private nodeKey(nodeId: string): string {
    return `${this.prefix}{routes}:node:${nodeId}`;
  }

  async add(filter: string, nodeId: string): Promise<number> {
    const member = encodeRoute(filter, nodeId);
    return guard('route add', () => this.client[ADD_COMMAND](this.tableKey, this.nodeKey(nodeId), this.versionKey, member, this.channel));
  }

  async remove(filter: string, nodeId: string): Promise<void> {
    const member = encodeRoute(filter, nodeId);
    await guard('route remove', () => this.client[REMOVE_COMMAND](this.tableKey, this.nodeKey(nodeId), this.versionKey, member, this.channel));
  }

  async removeNode(nodeId: string): Promise<void> {
    await guard('route removeNode', () => this.client[REMOVE_NODE_COMMAND](this.tableKey, this.nodeKey(nodeId), this.versionKey, this.channel));
  }

  async watch(listener: RouteListener): Promise<void> {
    const subscriber = this.client instanceof Cluster ? this.client.duplicate() : this.client.duplicate({ connectionName: this.watcherName });
    const feed = new RouteFeed(subscriber, listener, {
      channel: this.channel,
      load: () => this.snapshot(),
      resyncRetryMs: this.resyncRetryMs,
      onError: this.onError,
    });
    this.feeds.add(feed);
    try {
      await feed.start();
    } catch (error) {
      this.feeds.delete(feed);
      await feed.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    const feeds = [...this.feeds];
    this.feeds.clear();
    await Promise.all(feeds.map((feed) => feed.close()));
  }

  /** The version and the table read in one MULTI, so the table is exactly that version's. */
  private async snapshot(): Promise<RouteSnapshot> {
    const read = this.client.multi().get(this.versionKey).smembers(this.tableKey);
    const [version, members] = (await guard('route snapshot', () => read.exec().then(execReplies))) as [string | null, string[]];
    return { version: Number(version ?? 0), routes: members.map(decodeRoute) };
  }
}
