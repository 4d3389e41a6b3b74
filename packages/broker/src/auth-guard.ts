import { ReasonCode } from '@roost/protocol';
import { addressKey } from './address-key.ts';
import type { AuthDecision, Authenticator, Credentials } from './authenticator.ts';
import { BanTable, refusalDelayMs } from './ban-table.ts';
import { describeInfo } from './connection-info.ts';
import type { AuthBanPolicy, Logger } from './options.ts';
import type { BrokerStats } from './stats.ts';

/** Refusals that say the client did not prove who it is; a server fault (0x88) is not the client's failure. */
const FAILURES: ReadonlySet<number> = new Set([ReasonCode.BadUserNameOrPassword, ReasonCode.NotAuthorized, ReasonCode.BadAuthenticationMethod]);

/**
 * An Authenticator in front of another: a CONNECT from a banned address is refused (0x8A Banned)
 * before any provider spends a password hash on it; each failure from an address answers later
 * than the last; `after` failures within `seconds` ban the address for `seconds`. Other
 * addresses, and successes, are never slowed.
 */
export class AuthGuard implements Authenticator {
  private readonly inner: Authenticator;
  private readonly policy: AuthBanPolicy;
  private readonly bans: BanTable;
  private readonly stats: BrokerStats;
  private readonly log: Logger;

  constructor(inner: Authenticator, policy: AuthBanPolicy, stats: BrokerStats, log: Logger) {
    this.inner = inner;
    this.policy = policy;
    this.bans = new BanTable(policy);
    this.stats = stats;
    this.log = log;
  }

  authenticate(credentials: Credentials): AuthDecision | Promise<AuthDecision> {
    const key = addressKey(credentials.info.remoteAddress);
    const bannedFor = this.bans.bannedFor(key, Date.now());
    if (bannedFor > 0) return this.refuseBanned(credentials, bannedFor);
    const decision = this.inner.authenticate(credentials);
    if (decision instanceof Promise) return decision.then((settled) => this.after(key, credentials, settled));
    return this.after(key, credentials, decision);
  }

  private refuseBanned(credentials: Credentials, bannedFor: number): AuthDecision {
    this.stats.countLimit('auth_banned');
    this.stats.countAuthOutcome('ban', 'banned');
    const seconds = Math.ceil(bannedFor / 1000);
    this.log.info(
      { clientId: credentials.clientId, username: credentials.username, ...describeInfo(credentials.info), provider: 'ban', reasonCode: 'Banned', bannedForSeconds: seconds },
      'client refused at CONNECT',
    );
    return { outcome: 'deny', reasonCode: ReasonCode.Banned, reason: `too many failed logins from this address; banned for ${seconds} s` };
  }

  private after(key: string, credentials: Credentials, decision: AuthDecision): AuthDecision | Promise<AuthDecision> {
    if (decision.outcome === 'continue') {
      // An exchange's failure comes at a later step (a wrong SCRAM proof): it counts as a CONNECT's does.
      const { exchange } = decision;
      return { ...decision, exchange: { next: async (data) => this.after(key, credentials, await exchange.next(data)) } };
    }
    if (decision.outcome !== 'deny' || !FAILURES.has(decision.reasonCode)) return decision;
    const { failures, banned } = this.bans.fail(key, Date.now());
    if (banned) {
      this.stats.authBans++;
      this.log.warn(
        { clientId: credentials.clientId, username: credentials.username, ...describeInfo(credentials.info), address: key, failures, banSeconds: this.policy.seconds },
        'address banned after repeated authentication failures',
      );
    }
    const delay = refusalDelayMs(failures);
    if (delay === 0) return decision;
    return new Promise((resolve) => setTimeout(resolve, delay, decision).unref());
  }
}
