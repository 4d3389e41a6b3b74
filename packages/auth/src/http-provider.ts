import { createHash } from 'node:crypto';
import { ReasonCode } from '@roost/protocol';
import type { AuthProvider, ClientRules, Credentials, Logger, ProviderAnswer } from '@roost/broker';
import { parseAclClaim } from './acl-claim.ts';
import { compileRuleList } from './acl-rules.ts';
import { BoundedCache } from './bounded-cache.ts';
import { CircuitBreaker } from './circuit-breaker.ts';

export interface HttpAuthOptions {
  /** ROOST_AUTH_HTTP_URL */
  url: string;
  /** ROOST_AUTH_HTTP_TIMEOUT, milliseconds. */
  timeoutMs: number;
  /** ROOST_AUTH_HTTP_CACHE_SECONDS as milliseconds; 0: every CONNECT asks. */
  cacheTtlMs: number;
  cacheEntries?: number;
  /** Failures in a row that open the breaker, and how long it stays open. */
  breakerFailures?: number;
  breakerOpenMs?: number;
  now?: () => number;
}

/** What the service answers: `ignore` passes the client to the next provider. */
type Verdict =
  | { readonly result: 'allow'; readonly username: string | undefined; readonly rules: ClientRules | undefined }
  | { readonly result: 'deny' }
  | { readonly result: 'ignore' };

/** Why the service gave no verdict: the CONNECT is refused with Server Unavailable, and it counts for the breaker. */
class ServiceFailure extends Error {
  override readonly name = 'ServiceFailure';
}

const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * ROOST_AUTH_HTTP_URL: each CONNECT is a JSON POST `{clientId, username, password, address,
 * listener, certificateCN}`, answered `{"result": "allow"|"deny"|"ignore", "username"?, "acl"?}`.
 * A timeout, a non-2xx status or an answer that is not such JSON refuses the client with
 * Server Unavailable (0x88 / 3); that many failures in a row open a circuit breaker, and
 * while it is open CONNECTs are refused the same way at once, without a request, so a dead or
 * slow service costs a client one fast refusal and not a timeout each. Verdicts are cached
 * for a short time, keyed on a SHA-256 of the credentials (never the password itself).
 */
export class HttpAuthProvider implements AuthProvider {
  readonly name = 'http';
  private readonly options: HttpAuthOptions;
  private readonly cache: BoundedCache<Verdict>;
  private readonly breaker: CircuitBreaker;
  private readonly log: Logger;
  /** The URL as logged: without credentials or a query, which may hold a key. */
  private readonly where: string;

  constructor(options: HttpAuthOptions, log: Logger) {
    this.options = options;
    this.log = log;
    const url = new URL(options.url);
    this.where = `${url.origin}${url.pathname}`;
    this.cache = new BoundedCache({ maxEntries: options.cacheEntries ?? 10_000, ttlMs: options.cacheTtlMs, now: options.now });
    this.breaker = new CircuitBreaker({ failures: options.breakerFailures ?? 5, openMs: options.breakerOpenMs ?? 10_000, now: options.now });
  }

  get breakerState(): 'closed' | 'open' | 'half-open' {
    return this.breaker.state;
  }

  async authenticate(credentials: Credentials): Promise<ProviderAnswer> {
    const key = cacheKey(credentials);
    const verdict = this.cache.get(key) ?? (await this.ask(credentials, key));
    if (verdict === undefined) return { outcome: 'deny', reasonCode: ReasonCode.ServerUnavailable, reason: 'auth service unavailable' };
    switch (verdict.result) {
      case 'allow':
        return { outcome: 'accept', username: verdict.username, rules: verdict.rules };
      case 'deny':
        return { outcome: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword, reason: 'auth service denied' };
      case 'ignore':
        return { outcome: 'not-mine' };
    }
  }

  /** The service's verdict, or undefined when it gave none (failed, or the breaker is open). */
  private async ask(credentials: Credentials, key: string): Promise<Verdict | undefined> {
    if (!this.breaker.allow()) return undefined;
    try {
      const verdict = await this.request(credentials);
      const wasOpen = this.breaker.state !== 'closed';
      this.breaker.recordSuccess();
      if (wasOpen) this.log.info({ url: this.where }, 'auth service answers again; circuit closed');
      this.cache.set(key, verdict);
      return verdict;
    } catch (error) {
      const before = this.breaker.state;
      this.breaker.recordFailure();
      const after = this.breaker.state;
      const fields = { url: this.where, reason: (error as Error).message };
      if (before !== 'open' && after === 'open') this.log.error(fields, 'auth service failing; circuit open, CONNECTs refused until it answers');
      else this.log.warn(fields, 'auth service gave no verdict');
      return undefined;
    }
  }

  private async request(credentials: Credentials): Promise<Verdict> {
    const { info } = credentials;
    const body = JSON.stringify({
      clientId: credentials.clientId,
      username: credentials.username ?? null,
      password: credentials.password?.toString('utf8') ?? null,
      address: info.remoteAddress,
      listener: info.listener,
      certificateCN: info.tls?.peerCertificate?.subjectCN ?? null,
    });
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      const name = (error as Error).name;
      throw new ServiceFailure(name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : `request failed: ${(error as Error).message}`);
    }
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel();
      throw new ServiceFailure(`status ${response.status}`);
    }
    return parseVerdict(await readBounded(response));
  }
}

async function readBounded(response: Response): Promise<string> {
  if (Number(response.headers.get('content-length') ?? 0) > MAX_ANSWER_BYTES) {
    await response.body?.cancel();
    throw new ServiceFailure('answer too large');
  }
  const text = await response.text();
  if (text.length > MAX_ANSWER_BYTES) throw new ServiceFailure('answer too large');
  return text;
}

function parseVerdict(text: string): Verdict {
  let answer: { result?: unknown; username?: unknown; acl?: unknown };
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    throw new ServiceFailure('answer is not JSON');
  }
  if (typeof answer !== 'object' || answer === null) throw new ServiceFailure('answer is not a JSON object');
  if (answer.result === 'deny' || answer.result === 'ignore') return { result: answer.result };
  if (answer.result !== 'allow') throw new ServiceFailure('answer has no result allow, deny or ignore');
  if (answer.username !== undefined && typeof answer.username !== 'string') throw new ServiceFailure('answer username is not a string');
  if (answer.acl === undefined) return { result: 'allow', username: answer.username, rules: undefined };
  const rules = parseAclClaim(answer.acl);
  if (typeof rules === 'string') throw new ServiceFailure(`answer acl: ${rules}`);
  return { result: 'allow', username: answer.username, rules: compileRuleList(rules) };
}

/** What the verdict depends on, hashed: the cache holds no password. */
function cacheKey({ clientId, username, password, info }: Credentials): string {
  const hash = createHash('sha256');
  for (const part of [clientId, username ?? '\0', info.remoteAddress, info.listener, info.tls?.peerCertificate?.subjectCN ?? '\0']) hash.update(`${part.length}:${part}`);
  hash.update(password ?? Buffer.from('\0'));
  return hash.digest('base64');
}
