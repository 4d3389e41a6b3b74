// Wills of connected clients (cluster mode), so a surviving node can publish those of a dead one.
//
// Keys, shown with the default prefix; C is the client id:
//   roost:will:{C}  string  JSON { v, message, delaySeconds, expirySeconds? } (codec.ts)
//
// The `{C}` hash tag puts a will in the slot of its client's session keys
// (redis-session-store.ts), so a later script may change both together.
// `take` is one GETDEL (Redis >= 6.2): of two nodes racing to publish a will, one gets it.
import type { Cluster, Redis } from 'ioredis';
import type { WillStore } from '@roost/broker';
import type { Will } from '@roost/broker';
import { decodeWill, encodeWill } from './codec.ts';
import { guard } from './errors.ts';

type RedisClient = Redis | Cluster;

export class RedisWillStore implements WillStore {
  private readonly client: RedisClient;
  private readonly prefix: string;

  /** `client` stays the caller's to configure and quit; `prefix` namespaces every key. */
  constructor(client: RedisClient, prefix = 'roost:') {
    this.client = client;
    this.prefix = prefix;
  }

  private key(clientId: string): string {
    return `${this.prefix}will:{${clientId}}`;
  }

  set(clientId: string, will: Will): Promise<void> {
    const text = encodeWill(will);
    return guard('will set', () => this.client.set(this.key(clientId), text)).then(nothing);
  }

  delete(clientId: string): Promise<void> {
    return guard('will delete', () => this.client.del(this.key(clientId))).then(nothing);
  }

  async get(clientId: string): Promise<Will | undefined> {
    const text = await guard('will get', () => this.client.get(this.key(clientId)));
    return text === null ? undefined : decodeWill(text);
  }

  async take(clientId: string): Promise<Will | undefined> {
    const text = await guard('will take', () => this.client.getdel(this.key(clientId)));
    return text === null ? undefined : decodeWill(text);
  }
}

function nothing(): void {}
