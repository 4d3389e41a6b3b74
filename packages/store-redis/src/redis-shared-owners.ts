// Which member of a shared group took each QoS 2 message (cluster mode), for ten minutes.
//
// Keys, shown with the default prefix; G is a share name, I a message id, \0 a NUL byte:
//   roost:shared-owner:G\0I  string  the client id of the member that took message I, PX 10 min
//
// Written when a node hands a QoS 2 message to a member (beside the session write that makes
// it durable), read only for a publisher's resend, so a first delivery costs one SET and a
// resend one GET. A write that is lost (the node died between) only lets a resend reach
// another member, as before; one that landed without its session write sends the resend to
// the owner, whose session then takes the message: never a loss.
import type { Cluster, Redis } from 'ioredis';
import type { SharedOwners } from '@roost/broker';
import { guard } from './errors.ts';

/** Longer than any resend takes: a node's death, a reap and a reconnect. */
const OWNER_TTL_MS = 10 * 60_000;

type RedisClient = Redis | Cluster;

export class RedisSharedOwners implements SharedOwners {
  private readonly client: RedisClient;
  private readonly prefix: string;

  /** `client` stays the caller's to configure and quit; `prefix` namespaces every key. */
  constructor(client: RedisClient, prefix = 'roost:') {
    this.client = client;
    this.prefix = prefix;
  }

  private key(group: string, messageId: string): string {
    return `${this.prefix}shared-owner:${group}\0${messageId}`;
  }

  async record(group: string, messageId: string, member: string): Promise<void> {
    await guard('shared owner record', () => this.client.set(this.key(group, messageId), member, 'PX', OWNER_TTL_MS));
  }

  async owner(group: string, messageId: string): Promise<string | undefined> {
    return (await guard('shared owner', () => this.client.get(this.key(group, messageId)))) ?? undefined;
  }
}
