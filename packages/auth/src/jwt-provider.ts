import { jwtVerify, type JWTPayload } from 'jose';
import { ReasonCode } from '@roost/protocol';
import type { AuthProvider, Credentials, Logger, ProviderAnswer } from '@roost/broker';
import { parseAclClaim } from './acl-claim.ts';
import { compileRuleList } from './acl-rules.ts';
import { parseJwksFile, parseJwtKeyFile, type JwtKey } from './jwt-key.ts';
import { readConfigFile, WatchedFile } from './watched-file.ts';

export interface JwtOptions {
  /** ROOST_JWT_KEY_FILE, or else… */
  keyFile?: string | undefined;
  /** …ROOST_JWT_JWKS_FILE. */
  jwksFile?: string | undefined;
  /** The claim that must equal the CONNECT user name (ROOST_JWT_USERNAME_CLAIM). */
  usernameClaim: string;
  /** When set, a claim that must equal the client id (ROOST_JWT_CLIENTID_CLAIM). */
  clientIdClaim?: string | undefined;
  /** The claim holding the client's ACL, when the token carries one (ROOST_JWT_ACL_CLAIM). */
  aclClaim: string;
  /** Allowed clock skew for `exp` and `nbf` (ROOST_JWT_LEEWAY). */
  leewaySeconds: number;
}

/** Compact JWS: three base64url parts. Anything else is a password for another provider. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MAX_TOKEN_BYTES = 16 * 1024;

/**
 * A JWT as the CONNECT password. Verified with the configured key (reloaded when its file
 * changes, for key rotation) and only the algorithm that key is for; `exp` is required and,
 * with `nbf`, checked with a small leeway. The token is bound to the client: its user name
 * claim must equal the CONNECT user name (and its client id claim the client id, when one is
 * configured). A token may carry the client's ACL in a claim; it then replaces the ACL sources
 * for that client. Checked at CONNECT only: a token expiring later does not end the connection.
 */
export class JwtProvider implements AuthProvider {
  readonly name = 'jwt';
  private readonly options: JwtOptions;
  private key: JwtKey;
  private readonly file: WatchedFile;

  constructor(options: JwtOptions, log: Logger) {
    this.options = options;
    const [path, setting, parse] = options.keyFile !== undefined
      ? [options.keyFile, 'ROOST_JWT_KEY_FILE', parseJwtKeyFile]
      : [options.jwksFile!, 'ROOST_JWT_JWKS_FILE', parseJwksFile];
    const text = readConfigFile(path, setting);
    this.key = parse(text, setting);
    log.info({ file: path, algorithms: this.key.algorithms }, 'JWT key loaded');
    this.file = new WatchedFile(path, text, log, (next) => {
      try {
        this.key = parse(next, setting);
        log.info({ file: path, algorithms: this.key.algorithms }, 'JWT key reloaded');
      } catch (error) {
        log.error({ file: path, reason: (error as Error).message }, 'JWT key reload failed; keeping the previous key');
      }
    });
    this.file.watch();
  }

  async authenticate(credentials: Credentials): Promise<ProviderAnswer> {
    const { username, password } = credentials;
    if (username === undefined || password === undefined || password.length > MAX_TOKEN_BYTES) return NOT_MINE;
    const token = password.toString('latin1');
    if (!COMPACT_JWS.test(token)) return NOT_MINE;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key.key as Parameters<typeof jwtVerify>[1], {
        algorithms: this.key.algorithms,
        clockTolerance: this.options.leewaySeconds,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      return deny(ReasonCode.BadUserNameOrPassword, refusal(error));
    }
    const { usernameClaim, clientIdClaim, aclClaim } = this.options;
    if (payload[usernameClaim] !== username) return deny(ReasonCode.BadUserNameOrPassword, `the token's ${usernameClaim} claim is not the user name`);
    if (clientIdClaim !== undefined && payload[clientIdClaim] !== credentials.clientId) {
      return deny(ReasonCode.BadUserNameOrPassword, `the token's ${clientIdClaim} claim is not the client id`);
    }
    if (payload[aclClaim] === undefined) return { outcome: 'accept' };
    const rules = parseAclClaim(payload[aclClaim]);
    if (typeof rules === 'string') return deny(ReasonCode.NotAuthorized, `the token's ${aclClaim} claim: ${rules}`);
    return { outcome: 'accept', rules: compileRuleList(rules) };
  }

  close(): void {
    this.file.close();
  }
}

const NOT_MINE: ProviderAnswer = { outcome: 'not-mine' };

function deny(reasonCode: ReasonCode, reason: string): ProviderAnswer {
  return { outcome: 'deny', reasonCode, reason };
}

/** Why a token was refused, in words of our own: never the token or its claims' values. */
function refusal(error: unknown): string {
  const { code, claim } = error as { code?: string; claim?: string };
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'nbf') return 'token not yet valid';
      return claim === 'exp' ? 'token without exp' : `token claim ${claim ?? ''} invalid`;
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'token algorithm not allowed';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'token signature invalid';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no key for the token';
    default:
      return 'token malformed';
  }
}
