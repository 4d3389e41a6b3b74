import { ReasonCode } from '@roost/protocol';
import type { AuthProvider, Credentials, ProviderAnswer } from '@roost/broker';
import { parsePasswordHash, verifyPassword, type PasswordHash } from './password-hash.ts';
import type { RedisAuthStore } from './redis-auth-store.ts';

/**
 * ROOST_REDIS_USERS: the cluster's users, read from Redis at each CONNECT (one HGET), so a
 * user added, changed or deleted on any node applies to the next CONNECT everywhere, with no
 * cache to invalidate. Hashes as in the password file. A user Redis does not hold is not this
 * provider's; Redis unreachable refuses with Server Unavailable (the chain's answer to a throw).
 */
export class RedisUserProvider implements AuthProvider {
  readonly name = 'redis-users';
  private readonly store: RedisAuthStore;

  constructor(store: RedisAuthStore) {
    this.store = store;
  }

  /**
   * The user's entry as Redis holds it now, for the SCRAM provider; a damaged one is no entry
   * (the client then fails as with a wrong password). Throws when Redis cannot be reached.
   */
  readonly entryOf = async (username: string): Promise<PasswordHash | undefined> => {
    const text = await this.store.userHash(username);
    return text === undefined ? undefined : parsePasswordHash(text);
  };

  async authenticate(credentials: Credentials): Promise<ProviderAnswer> {
    const { username, password } = credentials;
    if (username === undefined) return NOT_MINE;
    const text = await this.store.userHash(username);
    if (text === undefined) return NOT_MINE;
    const hash = parsePasswordHash(text);
    if (hash === undefined) return deny('the stored hash is damaged');
    if (password === undefined || password.length === 0) return deny('no password given');
    return (await verifyPassword(hash, password)) ? { outcome: 'accept' } : deny('wrong password');
  }
}

const NOT_MINE: ProviderAnswer = { outcome: 'not-mine' };

function deny(reason: string): ProviderAnswer {
  return { outcome: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword, reason };
}
