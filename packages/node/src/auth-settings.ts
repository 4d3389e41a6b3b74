import { ConfigError } from '@roost/protocol';

/** The authentication settings beyond the password and ACL files, read by loadConfig. */
export interface AuthSettings {
  tlsIdentity: 'cn' | 'san' | undefined;
  redisUsers: boolean;
  redisAcl: boolean;
  jwt: { keyFile: string | undefined; jwksFile: string | undefined; usernameClaim: string; clientIdClaim: string | undefined; aclClaim: string; leewaySeconds: number } | undefined;
  http: { url: string; timeoutMs: number; cacheTtlMs: number } | undefined;
}

/** Reads them from the parsed settings; a combination that cannot work is a ConfigError naming the setting. */
export function authSettings(get: <T>(key: string) => T, redis: boolean): AuthSettings {
  const redisUsers = get<string>('redisUsers') === 'true';
  const redisAcl = get<string>('redisAcl') === 'true';
  if (redisUsers && !redis) throw new ConfigError('ROOST_REDIS_USERS', 'needs ROOST_REDIS_URL');
  if (redisAcl && !redis) throw new ConfigError('ROOST_REDIS_ACL', 'needs ROOST_REDIS_URL');
  const keyFile = get<string | undefined>('jwtKeyFile');
  const jwksFile = get<string | undefined>('jwtJwksFile');
  if (keyFile !== undefined && jwksFile !== undefined) throw new ConfigError('ROOST_JWT_JWKS_FILE', 'set ROOST_JWT_KEY_FILE or ROOST_JWT_JWKS_FILE, not both');
  const jwt =
    keyFile === undefined && jwksFile === undefined
      ? undefined
      : {
          keyFile,
          jwksFile,
          usernameClaim: get<string>('jwtUsernameClaim'),
          clientIdClaim: get<string | undefined>('jwtClientIdClaim'),
          aclClaim: get<string>('jwtAclClaim'),
          leewaySeconds: get<number>('jwtLeeway'),
        };
  const url = get<string | undefined>('authHttpUrl');
  const http = url === undefined ? undefined : { url, timeoutMs: get<number>('authHttpTimeout'), cacheTtlMs: get<number>('authHttpCacheSeconds') * 1000 };
  return { tlsIdentity: get('tlsIdentity'), redisUsers, redisAcl, jwt, http };
}

export function hasProvider(auth: AuthSettings): boolean {
  return auth.tlsIdentity !== undefined || auth.redisUsers || auth.jwt !== undefined || auth.http !== undefined;
}
