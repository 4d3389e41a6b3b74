import { ReasonCode } from '@roost/protocol';
import { ClientPermissions, type ClientIdentity, type ClientRules, type RuleSource } from './authorizer.ts';
import type { ConnectionInfo } from './connection-info.ts';

/** What a CONNECT presents. The password lives only as long as the decision. */
export interface Credentials {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  readonly info: ConnectionInfo;
}

/** The broker's answer to a CONNECT, which the channel waits for before it resolves the session. */
export type AuthDecision =
  | { readonly outcome: 'accept'; readonly permissions: ClientPermissions }
  | { readonly outcome: 'deny'; readonly reasonCode: ReasonCode; readonly reason: string }
  /** An AUTH exchange goes on (MQTT 5 4.12); no provider asks for one yet. */
  | { readonly outcome: 'continue'; readonly method: string; readonly data: Buffer | undefined };

/** One provider's answer; `not-mine` passes the client to the next provider of the chain. */
export type ProviderAnswer =
  | {
      readonly outcome: 'accept';
      /** The verified identity when it is not the CONNECT's user name (a certificate's CN). */
      readonly username?: string | undefined;
      /** This client's whole ACL when the provider carries one (a token's claim): the rule source is not asked. */
      readonly rules?: ClientRules | undefined;
    }
  | { readonly outcome: 'deny'; readonly reasonCode: ReasonCode; readonly reason: string }
  | { readonly outcome: 'continue'; readonly method: string; readonly data: Buffer | undefined }
  | { readonly outcome: 'not-mine' };

/** A source of identities (a password file; later Redis, JWT, HTTP). Implemented in packages/auth. */
export interface AuthProvider {
  /** A short fixed name, used as a metric label. */
  readonly name: string;
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
 */
export class AuthChain implements Authenticator {
  private readonly options: AuthOptions;
  private readonly record: (credentials: Credentials, outcome: AuthOutcome, reason: string) => void;

  constructor(options: AuthOptions, record: (credentials: Credentials, outcome: AuthOutcome, reason: string) => void) {
    this.options = options;
    this.record = record;
  }

  authenticate(credentials: Credentials): AuthDecision | Promise<AuthDecision> {
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
      let answer: ProviderAnswer;
      try {
        answer = await provider.authenticate(credentials);
      } catch (error) {
        return this.deny(credentials, provider.name, ReasonCode.ServerUnavailable, `authentication failed: ${(error as Error).message}`);
      }
      switch (answer.outcome) {
        case 'not-mine':
          continue;
        case 'accept':
          return this.accept(credentials, provider.name, answer.username ?? credentials.username, answer.rules);
        case 'deny':
          return this.deny(credentials, provider.name, answer.reasonCode, answer.reason);
        case 'continue':
          return answer;
      }
    }
    // Every provider is asked first, even without a user name: a certificate or an HTTP service may know the client.
    if (credentials.username === undefined && credentials.password === undefined) return this.anonymous(credentials);
    return this.deny(credentials, 'none', ReasonCode.BadUserNameOrPassword, 'no provider knows this user');
  }

  private accept(credentials: Credentials, provider: string, username: string | undefined, rules: ClientRules | undefined): AuthDecision {
    const identity: ClientIdentity = { clientId: credentials.clientId, username, provider };
    this.record(credentials, { provider, result: 'accepted', reasonCode: ReasonCode.Success }, '');
    const source = rules === undefined ? this.options.rules : fixedRules(provider, rules);
    return { outcome: 'accept', permissions: new ClientPermissions(identity, source) };
  }

  private deny(credentials: Credentials, provider: string, reasonCode: ReasonCode, reason: string): AuthDecision {
    this.record(credentials, { provider, result: resultOf(reasonCode), reasonCode }, reason);
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
