import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ConfigError } from '@roost/protocol';

/** The only algorithms Roost verifies: `none`, and every other one, is refused by not being listed. */
export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';
export const JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['HS256', 'RS256', 'ES256'];

/** A key and the one algorithm it may verify, or a key set whose keys each pick theirs. */
export interface JwtKey {
  readonly key: KeyObject | JWTVerifyGetKey;
  readonly algorithms: JwtAlgorithm[];
}

/** RFC 7518 3.2: an HS256 key at least as long as the hash. */
const MIN_SECRET_BYTES = 32;

/**
 * ROOST_JWT_KEY_FILE: a PEM public key or certificate (RSA: RS256; EC P-256: ES256), or else
 * the file's bytes (a final line break dropped) as the HS256 secret. The algorithm comes from
 * the key, so a token cannot choose another one (an RS256 public key used as an HS256 secret).
 */
export function parseJwtKeyFile(text: string, setting: string): JwtKey {
  if (text.includes('-----BEGIN')) {
    let key: KeyObject;
    try {
      key = createPublicKey(text);
    } catch (error) {
      throw new ConfigError(setting, `not a PEM public key or certificate: ${(error as Error).message}`);
    }
    if (key.asymmetricKeyType === 'rsa') return { key, algorithms: ['RS256'] };
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, algorithms: ['ES256'] };
    throw new ConfigError(setting, `a ${key.asymmetricKeyType} key: RS256 needs an RSA key, ES256 an EC P-256 key`);
  }
  const secret = Buffer.from(text.replace(/\r?\n$/, ''), 'utf8');
  if (secret.length < MIN_SECRET_BYTES) throw new ConfigError(setting, `an HS256 secret needs at least ${MIN_SECRET_BYTES} bytes (got ${secret.length})`);
  return { key: createSecretKey(secret), algorithms: ['HS256'] };
}

/** ROOST_JWT_JWKS_FILE: `{"keys": [...]}`; a token's `kid` (and `alg`) selects its key. */
export function parseJwksFile(text: string, setting: string): JwtKey {
  let set: JSONWebKeySet;
  try {
    set = JSON.parse(text) as JSONWebKeySet;
    if (!Array.isArray(set?.keys) || set.keys.length === 0) throw new Error('no "keys" list');
    return { key: createLocalJWKSet(set), algorithms: [...JWT_ALGORITHMS] };
  } catch (error) {
    throw new ConfigError(setting, `not a JWKS: ${(error as Error).message}`);
  }
}
