import { ReasonCode } from '@roost/protocol';
import { ClientPermissions, type ClientIdentity, type ClientRules, type RuleSource } from './authorizer.ts';
import type { ConnectionInfo } from './connection-info.ts';

/** What a CONNECT presents. The password lives only as long as the decision. */
export interface Credentials {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  readonly info: ConnectionInfo;
  /** MQTT 5 enhanced authentication (4.12): the CONNECT's Authentication Method and Data, or a re-authentication's AUTH 0x19. */
  readonly method?: string | undefined;
  readonly data?: Buffer | undefined;
  /** An AUTH 0x19 of a connected client [MQTT-4.12.1-1], not a CONNECT: for the log. */
  readonly reauthentication?: boolean | undefined;
}

/** The broker's answer to a CONNECT, which the channel waits for before it resolves the session. */
export type AuthDecision =
  /** `data`: Authentication Data for the CONNACK (or the AUTH 0x00 of a re-authentication), a SCRAM server-final-message. */
  | { readonly outcome: 'accept'; readonly permissions: ClientPermissions; readonly data?: Buffer | undefined }
  | { readonly outcome: 'deny'; readonly reasonCode: ReasonCode; readonly reason: string }
  /** The exchange goes on (MQTT 5 4.12): `data` goes to the client in AUTH 0x18, its answer to `exchange`. */
  | { readonly outcome: 'continue'; readonly data: Buffer | undefined; readonly exchange: AuthExchange };

/** An enhanced authentication under way on one connection: the provider's state for it, which the channel never holds. */
export interface AuthExchange {
  /** The client's next Authentication Data (AUTH 0x18). */
  next(data: Buffer | undefined): Promise<AuthDecision>;
}

/** A provider's exchange under way, answered as `authenticate` is. */
export interface ProviderExchange {
  next(data: Buffer | undefined): Promise<ProviderAnswer>;
}

/** One provider's answer; `not-mine` passes the client to the next provider of the chain. */
export type ProviderAnswer =
  | {
      readonly outcome: 'accept';
      /** The verified identity when it is not the CONNECT's user name (a certificate's CN). */
      readonly username?: string | undefined;
      /** This client's whole ACL when the provider carries one (a token's claim): the rule source is not asked. */
      readonly rules?: ClientRules | undefined;
      /** Authentication Data for the client with the acceptance (a SCRAM server-final-message). */
      readonly data?: Buffer | undefined;
    }
  /** `detail` goes to the log only: `reason` reaches the client, and must not tell an unknown user from a wrong password. */
  | { readonly outcome: 'deny'; readonly reasonCode: ReasonCode; readonly reason: string; readonly detail?: string | undefined }
  | { readonly outcome: 'continue'; readonly data: Buffer | undefined; readonly exchange: ProviderExchange }
  | { readonly outcome: 'not-mine' };

/** A source of identities (a password file, Redis, JWT, HTTP, SCRAM). Implemented in packages/auth. */
export interface AuthProvider {
  /** A short fixed name, used as a metric label. */
  readonly name: string;
  /** The enhanced authentication methods it offers (`SCRAM-SHA-256`); a CONNECT naming a method is put to these providers only. */
  readonly methods?: readonly string[] | undefined;
  authenticate(credentials: Credentials): Promise<ProviderAnswer>;
}

/** The port the broker calls at CONNECT. */
export interface Authenticator {
  authenticate(credentials: Credentials): AuthDecision | Promise<AuthDecision>;
}

export interface AuthOptions {
  /** Asked in this order; an empty list accepts everyone. */
  providers: readonly AuthProvider[];
  /** Whether a client without a user name is let in while providers are configured. */
  allowAnonymous: boolean;
  /** Where each accepted client's rules come from; undefined: every topic allowed (but `$` publishes). */
  rules?: RuleSource | undefined;
}

/** Each decision, for the counters and the log: which provider decided and why. */
export interface AuthOutcome {
  provider: string;
  /** `accepted`, or the reason code's meaning: `bad-credentials`, `not-authorized`, `error`. */
  result: string;
  reasonCode: ReasonCode;
}

/**
 * The providers in their configured order, and the anonymous policy: a client without a
 * user name is anonymous; one with a user name no provider knows is refused as bad credentials.
 * A CONNECT naming an Authentication Method goes only to the providers offering it; an
 * exchange a provider starts is followed to its end through the same accept and deny.
 */
export class AuthChain implements Authenticator {
  private readonly options: AuthOptions;
  private readonly record: (credentials: Credentials, outcome: AuthOutcome, reason: string) => void;

  constructor(options: AuthOptions, record: (credentials: Credentials, outcome: AuthOutcome, reason: string) => void) {
    this.options = options;
    this.record = record;
  }

  authenticate(credentials: Credentials): AuthDecision | Promise<AuthDecision> {
    if (credentials.method !== undefined) return this.exchange(credentials, credentials.method);
    // No provider verifies a user name, so none selects a user's rules: every client is anonymous
    // (the embedded broker stays open; a warning says so at start).
    if (this.options.providers.length === 0) return this.anonymous(credentials);
    return this.ask(credentials);
  }

  private anonymous(credentials: Credentials): AuthDecision {
    if (this.options.allowAnonymous) return this.accept(credentials, 'anonymous', undefined, undefined);
    return this.deny(credentials, 'anonymous', ReasonCode.NotAuthorized, 'anonymous clients are not allowed');
  }

  private async ask(credentials: Credentials): Promise<AuthDecision> {
    for (const provider of this.options.providers) {
      const decision = await this.askOne(provider, credentials);
      if (decision !== undefined) return decision;
    }
    // Every provider is asked first, even without a user name: a certificate or an HTTP service may know the client.
    if (credentials.username === undefined && credentials.password === undefined) return this.anonymous(credentials);
    return this.deny(credentials, 'none', ReasonCode.BadUserNameOrPassword, 'no provider knows this user');
  }

  /**
   * Enhanced authentication: only the providers offering the method are asked [MQTT-4.12.0-1];
   * none offers it: Bad authentication method.
   */
  private async exchange(credentials: Credentials, method: string): Promise<AuthDecision> {
    const offering = this.options.providers.filter((provider) => provider.methods?.includes(method));
    if (offering.length === 0) return this.deny(credentials, 'none', ReasonCode.BadAuthenticationMethod, `authentication method ${method} not supported`);
    for (const provider of offering) {
      const decision = await this.askOne(provider, credentials);
      if (decision !== undefined) return decision;
    }
    return this.deny(credentials, 'none', ReasonCode.NotAuthorized, `no provider took the ${method} authentication`);
  }

  /** One provider's answer as the chain's decision; undefined when it is not this provider's client. */
  private async askOne(provider: AuthProvider, credentials: Credentials): Promise<AuthDecision | undefined> {
    let answer: ProviderAnswer;
    try {
      answer = await provider.authenticate(credentials);
    } catch (error) {
      return this.deny(credentials, provider.name, ReasonCode.ServerUnavailable, `authentication failed: ${(error as Error).message}`);
    }
    return this.decide(provider.name, credentials, answer);
  }

  private decide(provider: string, credentials: Credentials, answer: ProviderAnswer): AuthDecision | undefined {
    switch (answer.outcome) {
      case 'not-mine':
        return undefined;
      case 'accept':
        return this.accept(credentials, provider, answer.username ?? credentials.username, answer.rules, answer.data);
      case 'deny':
        return this.deny(credentials, provider, answer.reasonCode, answer.reason, answer.detail);
      case 'continue':
        return { outcome: 'continue', data: answer.data, exchange: this.follow(provider, credentials, answer.exchange) };
    }
  }

  /** The provider's exchange, its later answers decided (counted, logged, permissions made) as its first was. */
  private follow(provider: string, credentials: Credentials, exchange: ProviderExchange): AuthExchange {
    return {
      next: async (data) => {
        let answer: ProviderAnswer;
        try {
          answer = await exchange.next(data);
        } catch (error) {
          return this.deny(credentials, provider, ReasonCode.ServerUnavailable, `authentication failed: ${(error as Error).message}`);
        }
        // A provider cannot hand a client on in the middle of its own exchange.
        return this.decide(provider, credentials, answer) ?? this.deny(credentials, provider, ReasonCode.NotAuthorized, 'authentication abandoned');
      },
    };
  }

  private accept(
    credentials: Credentials,
    provider: string,
    username: string | undefined,
    rules: ClientRules | undefined,
    data?: Buffer | undefined,
  ): AuthDecision {
    const identity: ClientIdentity = { clientId: credentials.clientId, username, provider };
    this.record(credentials, { provider, result: 'accepted', reasonCode: ReasonCode.Success }, '');
    const source = rules === undefined ? this.options.rules : fixedRules(provider, rules);
    return { outcome: 'accept', permissions: new ClientPermissions(identity, source), data };
  }

  private deny(credentials: Credentials, provider: string, reasonCode: ReasonCode, reason: string, detail?: string): AuthDecision {
    this.record(credentials, { provider, result: resultOf(reasonCode), reasonCode }, detail ?? reason);
    return { outcome: 'deny', reasonCode, reason };
  }
}

/** One client's rules from its provider, which never reload: a new token or answer comes with a new CONNECT. */
function fixedRules(name: string, rules: ClientRules): RuleSource {
  return { name, generation: 0, compile: () => rules };
}

function resultOf(code: ReasonCode): string {
  switch (code) {
    case ReasonCode.BadUserNameOrPassword:
      return 'bad-credentials';
    case ReasonCode.NotAuthorized:
      return 'not-authorized';
    case ReasonCode.Banned:
      return 'banned';
    case ReasonCode.BadAuthenticationMethod:
      return 'bad-method';
    default:
      return 'error';
  }
}
