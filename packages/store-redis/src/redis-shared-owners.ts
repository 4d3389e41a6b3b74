// Which member of a shared group took each QoS 2 message (cluster mode), for ten minutes.
//
// Keys, shown with the default prefix; G is a share name, I a message id, \0 a NUL byte:
//   roost:shared-owner:G\0I  string  member\0epoch: the client id of the member that took
//                                    message I, and the directory epoch under which the node
//                                    that recorded it held the member; PX 10 min
//
// Claimed when a node hands a QoS 2 message to a member, before the session write that makes
// it durable: set only if no other member is on record, so two offers of one message at once
// (a slow offer and the publisher's resend from another node) end at one member. A member's
// node handing the message back (the member left) replaces it, but only under an epoch at
// least the recorded one: a node that took the member's session on from the store records
// its newer epoch for each QoS 2 message the session queues (`keep`), so a hand-back its old
// holder still runs cannot give those to another member. A first delivery costs one script
// call, a resend's lookup one GET. A claim that is lost (the node died between) only lets a
// resend reach another member; one that landed without its session write sends the resend to
// the owner, whose session then takes the message: never a loss. No client id holds a NUL
// (MQTT 1.5.4), so the separator is unambiguous; a value without one (an older node's) is
// read as epoch 0.
import type { Cluster, Redis } from 'ioredis';
import type { SharedHolder, SharedOwners } from '@roost/broker';
import { guard } from './errors.ts';

/** Longer than any resend takes: a node's death, a reap and a reconnect. */
const OWNER_TTL_MS = 10 * 60_000;

/** Lua: the owner and epoch on record in KEYS[1], or nil. */
const READ_OWNER = `
local value = redis.call('GET', KEYS[1])
local owner, at = nil, 0
if value then
  local sep = string.find(value, '\\0', 1, true)
  if sep then owner, at = string.sub(value, 1, sep - 1), tonumber(string.sub(value, sep + 1)) or 0 else owner = value end
end
`;

/**
 * KEYS: the owner key. ARGV: member, its epoch, member it may replace (or ''), that one's
 * epoch, TTL ms. The owner after the call.
 */
const CLAIM_SCRIPT = `${READ_OWNER}
local epoch = tonumber(ARGV[2])
if owner == ARGV[1] then
  if at > epoch then epoch = at end
elseif owner and (owner ~= ARGV[3] or tonumber(ARGV[4]) < at) then
  return owner
end
redis.call('SET', KEYS[1], ARGV[1] .. '\\0' .. epoch, 'PX', ARGV[5])
return ARGV[1]
`;

/** KEYS: the owner key. ARGV: member, its holder's epoch, TTL ms. The owner after the call. */
const KEEP_SCRIPT = `${READ_OWNER}
if owner and owner ~= ARGV[1] then return owner end
local epoch = tonumber(ARGV[2])
if at > epoch then epoch = at end
redis.call('SET', KEYS[1], ARGV[1] .. '\\0' .. epoch, 'PX', ARGV[3])
return ARGV[1]
`;
const CLAIM_COMMAND = 'roostSharedOwnerClaim';
const KEEP_COMMAND = 'roostSharedOwnerKeep';

interface OwnerCommands {
  [CLAIM_COMMAND](key: string, member: string, epoch: number, replacing: string, replacingEpoch: number, ttlMs: number): Promise<string>;
  [KEEP_COMMAND](key: string, member: string, epoch: number, ttlMs: number): Promise<string>;
}

type RedisClient = Redis | Cluster;

export class RedisSharedOwners implements SharedOwners {
  private readonly client: RedisClient & OwnerCommands;
  private readonly prefix: string;

  /** `client` stays the caller's to configure and quit; `prefix` namespaces every key. */
  constructor(client: RedisClient, prefix = 'roost:') {
    client.defineCommand(CLAIM_COMMAND, { numberOfKeys: 1, lua: CLAIM_SCRIPT });
    client.defineCommand(KEEP_COMMAND, { numberOfKeys: 1, lua: KEEP_SCRIPT });
    this.client = client as RedisClient & OwnerCommands;
    this.prefix = prefix;
  }

  private key(group: string, messageId: string): string {
    return `${this.prefix}shared-owner:${group}\0${messageId}`;
  }

  async claim(group: string, messageId: string, taker: SharedHolder, replacing?: SharedHolder): Promise<string> {
    const key = this.key(group, messageId);
    return guard('shared owner claim', () => this.client[CLAIM_COMMAND](key, taker.member, taker.epoch, replacing?.member ?? '', replacing?.epoch ?? 0, OWNER_TTL_MS));
  }

  async keep(group: string, messageId: string, holder: SharedHolder): Promise<string> {
    return guard('shared owner keep', () => this.client[KEEP_COMMAND](this.key(group, messageId), holder.member, holder.epoch, OWNER_TTL_MS));
  }

  async owner(group: string, messageId: string): Promise<string | undefined> {
    const value = await guard('shared owner', () => this.client.get(this.key(group, messageId)));
    if (value === null) return undefined;
    const sep = value.indexOf('\0');
    return sep === -1 ? value : value.slice(0, sep);
  }
}
