// The cluster's node registry in Redis: heartbeats, membership, death detection, reaping.
//
// Keys, shown with the default prefix; N is a node id:
//   roost:{nodes}:alive:N  string  N's address, PX ttlMs, refreshed every heartbeatMs
//   roost:{nodes}:known    hash    N → JSON { address, incarnation } of every node that joined
//                                  and has neither left nor been forgotten after a reap
//   roost:{nodes}:reap:N   string  the node reaping dead N, PX reapTtlMs, set NX
//
// A node is dead when it is known and its alive key is gone. One `{nodes}` slot, so every
// script below sees the known hash and the keys it checks in one atomic step, and alive() can
// MGET. The data is tiny (one entry per node), so one shard is no cost.
//
// An incarnation is a fresh id per registration. Watchers remember which incarnation they
// reported, so a node that comes back with the same id and dies again is reported again, even
// if no poll saw it alive in between.
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { NodeInfo, NodeRegistry } from '@roost/broker';
import { execReplies, guard } from './errors.ts';

/**
 * KEYS: alive, known, reap. ARGV: node id, address, ttl ms, member JSON (with a new incarnation).
 * Refreshes a live heartbeat (returns 0); when the key had lapsed or never existed, registers
 * afresh: alive key, membership, and no reap claim left from an earlier incarnation (returns 1).
 */
const BEAT_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3], 'XX') then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('DEL', KEYS[3])
return 1
`;

/**
 * KEYS: alive, known, reap. ARGV: dead node id, reaper, reap ttl ms.
 * Only a known node without a heartbeat can be claimed: a late caller (the node came back, or
 * it was already reaped and forgotten) gets 0, as does every caller after the first.
 */
const CLAIM_REAP_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 0
`;

/** KEYS: alive, known. ARGV: node id. Never forgets a node that is alive again (it re-registered). */
const FORGET_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return redis.call('HDEL', KEYS[2], ARGV[1])
`;

const BEAT_COMMAND = 'roostNodeBeat';
const CLAIM_REAP_COMMAND = 'roostNodeClaimReap';
const FORGET_COMMAND = 'roostNodeForget';

type RedisClient = Redis | Cluster;

interface RegistryCommands {
  [BEAT_COMMAND](alive: string, known: string, reap: string, nodeId: string, address: string, ttlMs: string, member: string): Promise<number>;
  [CLAIM_REAP_COMMAND](alive: string, known: string, reap: string, deadNodeId: string, reaper: string, ttlMs: string): Promise<number>;
  [FORGET_COMMAND](alive: string, known: string, nodeId: string): Promise<number>;
}

export interface NodeRegistryOptions {
  /** How often this node refreshes its heartbeat and watchers look for dead nodes. */
  heartbeatMs?: number;
  /** How long a heartbeat lives: a node is dead this long after its last successful beat. */
  ttlMs?: number;
  /** How long a reap claim blocks other reapers; past it, a reaper that died mid-reap can be replaced. */
  reapTtlMs?: number;
  /**
   * This node's heartbeat had lapsed (Redis unreachable or the process paused past ttlMs), so
   * peers may have reported it dead and adopted its sessions; it is registered again anyway.
   */
  onLapse?: () => void;
  /** A heartbeat or a death poll failed; both retry on their next tick. */
  onError?: (error: Error) => void;
}

interface KnownMember {
  address: string;
  incarnation: string;
}

export class RedisNodeRegistry implements NodeRegistry {
  private readonly client: RedisClient & RegistryCommands;
  private readonly prefix: string;
  private readonly knownKey: string;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly reapTtlMs: number;
  private readonly onLapse: () => void;
  private readonly onError: (error: Error) => void;
  private readonly timers = new Set<NodeJS.Timeout>();
  private self: NodeInfo | undefined;
  private closed = false;

  /** `client` stays the caller's to configure and quit; `prefix` namespaces every key. */
  constructor(client: RedisClient, prefix = 'roost:', options: NodeRegistryOptions = {}) {
    client.defineCommand(BEAT_COMMAND, { numberOfKeys: 3, lua: BEAT_SCRIPT });
    client.defineCommand(CLAIM_REAP_COMMAND, { numberOfKeys: 3, lua: CLAIM_REAP_SCRIPT });
    client.defineCommand(FORGET_COMMAND, { numberOfKeys: 2, lua: FORGET_SCRIPT });
    this.client = client as RedisClient & RegistryCommands;
    this.prefix = prefix;
    this.knownKey = `${prefix}{nodes}:known`;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.ttlMs = options.ttlMs ?? 3000;
    this.reapTtlMs = options.reapTtlMs ?? 10 * 60_000;
    this.onLapse = options.onLapse ?? (() => {});
    this.onError = options.onError ?? ((error) => process.emitWarning(error));
  }

  private aliveKey(nodeId: string): string {
    return `${this.prefix}{nodes}:alive:${nodeId}`;
  }

  private reapKey(nodeId: string): string {
    return `${this.prefix}{nodes}:reap:${nodeId}`;
  }

  async register(self: NodeInfo): Promise<void> {
    if (this.self) throw new Error(`node registry already registered ${this.self.nodeId}`);
    await this.beat(self);
    this.self = self;
    this.every(() => this.heartbeat(self));
  }

  async alive(): Promise<NodeInfo[]> {
    const ids = await guard('alive', () => this.client.hkeys(this.knownKey));
    if (ids.length === 0) return [];
    const addresses = await guard('alive', () => this.client.mget(ids.map((id) => this.aliveKey(id))));
    return ids.flatMap((nodeId, i) => {
      const address = addresses[i];
      return address == null ? [] : [{ nodeId, address }];
    });
  }

  async members(): Promise<Array<NodeInfo & { alive: boolean }>> {
    const known = Object.entries(await guard('members', () => this.client.hgetall(this.knownKey)));
    if (known.length === 0) return [];
    const addresses = await guard('members', () => this.client.mget(known.map(([nodeId]) => this.aliveKey(nodeId))));
    return known.map(([nodeId, member], i) => {
      const address = addresses[i];
      return { nodeId, address: address ?? (JSON.parse(member) as KnownMember).address, alive: address != null };
    });
  }

  watchDeaths(onDead: (nodeId: string) => void): void {
    /** Node id → the incarnation already reported dead to this watcher. */
    const reported = new Map<string, string>();
    this.every(async () => {
      const dead = new Map(await this.deadNodes());
      // A node that is no longer dead came back under a new incarnation, or was forgotten.
      for (const nodeId of reported.keys()) if (!dead.has(nodeId)) reported.delete(nodeId);
      for (const [nodeId, incarnation] of dead) {
        if (reported.get(nodeId) === incarnation) continue;
        reported.set(nodeId, incarnation);
        onDead(nodeId);
      }
    });
  }

  async claimReap(deadNodeId: string, reaper: string): Promise<boolean> {
    const keys = [this.aliveKey(deadNodeId), this.knownKey, this.reapKey(deadNodeId)] as const;
    const won = await guard('claimReap', () => this.client[CLAIM_REAP_COMMAND](...keys, deadNodeId, reaper, String(this.reapTtlMs)));
    return won === 1;
  }

  /**
   * After a successful reap: drops the dead node from the known set, so no watcher reports it
   * again. The reap claim is left to expire, so a slow watcher cannot claim the node twice.
   */
  async forget(nodeId: string): Promise<void> {
    await guard('forget', () => this.client[FORGET_COMMAND](this.aliveKey(nodeId), this.knownKey, nodeId));
  }

  /**
   * Stops heartbeats and death watches. Without `handOver` the node leaves the known set too
   * (peers will not reap it); with it, it stays known without a heartbeat, so the next death
   * poll of a peer reaps it and adopts what it held.
   */
  async close(options: { handOver?: boolean } = {}): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (!this.self) return;
    const { nodeId } = this.self;
    if (options.handOver) {
      await guard('leave', () => this.client.del(this.aliveKey(nodeId)));
      return;
    }
    const leave = this.client.multi().del(this.aliveKey(nodeId)).hdel(this.knownKey, nodeId);
    await guard('leave', () => leave.exec().then(execReplies));
  }

  /** Known nodes without a heartbeat (this one excepted), with the incarnation that died. */
  private async deadNodes(): Promise<[string, string][]> {
    const known = Object.entries(await guard('watchDeaths', () => this.client.hgetall(this.knownKey)));
    const others = known.filter(([nodeId]) => nodeId !== this.self?.nodeId);
    if (others.length === 0) return [];
    const addresses = await guard('watchDeaths', () => this.client.mget(others.map(([nodeId]) => this.aliveKey(nodeId))));
    return others.filter((_, i) => addresses[i] == null).map(([nodeId, member]) => [nodeId, (JSON.parse(member) as KnownMember).incarnation]);
  }

  private async heartbeat(self: NodeInfo): Promise<void> {
    if (await this.beat(self)) this.onLapse();
  }

  /** True when the node was (re-)registered rather than refreshed. */
  private async beat(self: NodeInfo): Promise<boolean> {
    const member: KnownMember = { address: self.address, incarnation: randomUUID() };
    const keys = [this.aliveKey(self.nodeId), this.knownKey, this.reapKey(self.nodeId)] as const;
    const result = await guard('heartbeat', () =>
      this.client[BEAT_COMMAND](...keys, self.nodeId, self.address, String(this.ttlMs), JSON.stringify(member)),
    );
    return result === 1;
  }

  /**
   * Runs `task` every heartbeatMs, the next run timed from the end of the last, so a slow
   * Redis never piles runs up. Unref'd: the registry alone never keeps a process alive.
   */
  private every(task: () => Promise<void>): void {
    const schedule = () => {
      if (this.closed) return;
      const timer = setTimeout(async () => {
        this.timers.delete(timer);
        try {
          await task();
        } catch (error) {
          this.onError(error as Error);
        }
        schedule();
      }, this.heartbeatMs);
      timer.unref();
      this.timers.add(timer);
    };
    schedule();
  }
}
