// Which member of a shared group took each QoS 2 message (cluster mode), for ten minutes.
//
// Keys, shown with the default prefix; G is a share name, I a message id, \0 a NUL byte:
//   roost:shared-owner:G\0I  string  the client id of the member that took message I, PX 10 min
//
// Claimed when a node hands a QoS 2 message to a member, before the session write that makes
// it durable: set only if no other member is on record, so two offers of one message at once
// (a slow offer and the publisher's resend from another node) end at one member. A first
// delivery costs one script call, a resend's lookup one GET. A claim that is lost (the node
// died between) only lets a resend reach another member; one that landed without its session
// write sends the resend to the owner, whose session then takes the message: never a loss.
import type { Cluster, Redis } from 'ioredis';
import type { SharedOwners } from '@roost/broker';
import { guard } from './errors.ts';

/** Longer than any resend takes: a node's death, a reap and a reconnect. */
const OWNER_TTL_MS = 10 * 60_000;

/** KEYS: the owner key. ARGV: member, member it may replace (or ''), TTL ms. The owner after the call. */
const CLAIM_SCRIPT = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and owner ~= ARGV[2] then return owner end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return ARGV[1]
`;
const CLAIM_COMMAND = 'roostSharedOwnerClaim';

interface OwnerCommands {
  [CLAIM_COMMAND](key: string, member: string, replacing: string, ttlMs: number): Promise<string>;
}

type RedisClient = Redis | Cluster;

export class RedisSharedOwners implements SharedOwners {
  private readonly client: RedisClient & OwnerCommands;
  private readonly prefix: string;

  /** `client` stays the caller's to configure and quit; `prefix` namespaces every key. */
  constructor(client: RedisClient, prefix = 'roost:') {
    client.defineCommand(CLAIM_COMMAND, { numberOfKeys: 1, lua: CLAIM_SCRIPT });
    this.client = client as RedisClient & OwnerCommands;
    this.prefix = prefix;
  }

  private key(group: string, messageId: string): string {
    return `${this.prefix}shared-owner:${group}\0${messageId}`;
  }

  async claim(group: string, messageId: string, member: string, replacing?: string): Promise<string> {
    return guard('shared owner claim', () => this.client[CLAIM_COMMAND](this.key(group, messageId), member, replacing ?? '', OWNER_TTL_MS));
  }

  async owner(group: string, messageId: string): Promise<string | undefined> {
    return (await guard('shared owner', () => this.client.get(this.key(group, messageId)))) ?? undefined;
  }
}
