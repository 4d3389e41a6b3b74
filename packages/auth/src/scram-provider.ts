import { createHmac, randomBytes } from 'node:crypto';
import { ReasonCode } from '@roost/protocol';
import type { AuthProvider, Credentials, ProviderAnswer } from '@roost/broker';
import type { PasswordHash } from './password-hash.ts';
import { SCRAM_ITERATIONS, type ScramCredentials } from './scram-credentials.ts';
import { ScramExchange } from './scram-exchange.ts';
import { digestOf, isScramMechanism, parseClientFirst, SCRAM_MECHANISMS, ScramMessageError, type ScramMechanism } from './scram-messages.ts';

/** A user's stored entry by name (the password file's, Redis's), or undefined when it holds no such user. */
export type UserLookup = (username: string) => PasswordHash | undefined | Promise<PasswordHash | undefined>;

export interface ScramProviderOptions {
  /** Asked in order; the first that holds the user decides. */
  readonly lookups: readonly UserLookup[];
  /**
   * Makes the salt shown for a user nobody holds: the same on every attempt, so that it cannot
   * be told from a real one by asking twice. Random per process when not given.
   */
  readonly decoySecret?: Buffer | undefined;
  /** The server's nonce (tests); random otherwise. */
  readonly nonce?: (() => string) | undefined;
}

/** What the client is told on any failure: never whether the user exists. */
const FAILED = 'SCRAM authentication failed';

/**
 * MQTT 5 enhanced authentication by SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677):
 * CONNECT (or AUTH 0x19) carries client-first-message, the answer `continue` carries
 * server-first-message, the client's AUTH 0x18 its final message, and the acceptance
 * server-final-message. Entries are the password file's or Redis's `$scram-sha-256$` lines. A
 * user without an entry for the method, or unknown, gets an exchange with made-up keys that
 * fails at the proof, as a wrong password does, with the same work and the same refusal.
 */
export class ScramProvider implements AuthProvider {
  readonly name = 'scram';
  readonly methods = SCRAM_MECHANISMS;
  private readonly lookups: readonly UserLookup[];
  private readonly decoySecret: Buffer;
  private readonly nonce: (() => string) | undefined;

  constructor(options: ScramProviderOptions) {
    this.lookups = options.lookups;
    this.decoySecret = options.decoySecret ?? randomBytes(32);
    this.nonce = options.nonce;
  }

  async authenticate(credentials: Credentials): Promise<ProviderAnswer> {
    const mechanism = credentials.method;
    if (!isScramMechanism(mechanism)) return { outcome: 'not-mine' };
    let exchange: ScramExchange;
    try {
      const first = parseClientFirst(credentials.data);
      // The CONNECT's user name, when it has one, names the same user: the logs and the ACL see one identity.
      if (credentials.username !== undefined && credentials.username !== first.username) {
        const reason = 'the user name of client-first-message is not the CONNECT user name';
        return deny(reason, reason);
      }
      const entry = await this.entryOf(mechanism, first.username);
      exchange = new ScramExchange(first, entry?.credentials ?? this.decoy(mechanism, first.username), entry !== undefined, this.nonce?.());
      const detail = entry === undefined ? `no ${mechanism} entry for this user` : 'wrong proof';
      return { outcome: 'continue', data: Buffer.from(exchange.serverFirst), exchange: { next: async (data) => finish(exchange, data, detail) } };
    } catch (error) {
      if (error instanceof ScramMessageError) return malformed(error);
      throw error;
    }
  }

  private async entryOf(mechanism: ScramMechanism, username: string): Promise<{ credentials: ScramCredentials } | undefined> {
    for (const lookup of this.lookups) {
      const hash = await lookup(username);
      if (hash === undefined) continue;
      // A user held with a password hash, or with the other mechanism's keys, has no entry for this one.
      return hash.kind === 'scram' && hash.mechanism === mechanism ? { credentials: hash } : undefined;
    }
    return undefined;
  }

  /** Keys no password gives, and a salt that stays the same for the name (RFC 5802 9: hide which users exist). */
  private decoy(mechanism: ScramMechanism, username: string): ScramCredentials {
    const { bytes } = digestOf(mechanism);
    const derive = (label: string, length: number) => createHmac('sha512', this.decoySecret).update(`${label}\0${mechanism}\0${username}`).digest().subarray(0, length);
    return { mechanism, iterations: SCRAM_ITERATIONS, salt: derive('salt', 16), storedKey: derive('stored', bytes), serverKey: derive('server', bytes) };
  }
}

function finish(exchange: ScramExchange, data: Buffer | undefined, detail: string): ProviderAnswer {
  try {
    const outcome = exchange.finish(data);
    if (!outcome.ok) return deny(detail);
    return { outcome: 'accept', username: exchange.username, data: Buffer.from(outcome.serverFinal) };
  } catch (error) {
    if (error instanceof ScramMessageError) return malformed(error);
    throw error;
  }
}

/** Not Authorized, as EMQX and HiveMQ answer a failed enhanced authentication: 0x86 names a user name and password the client did not send. */
function deny(detail: string, reason = FAILED): ProviderAnswer {
  return { outcome: 'deny', reasonCode: ReasonCode.NotAuthorized, reason, detail };
}

/** A message that does not parse is refused the same way for every user, so its reason may say what is wrong. */
function malformed(error: ScramMessageError): ProviderAnswer {
  return deny(error.message, `${FAILED}: ${error.message}`);
}
