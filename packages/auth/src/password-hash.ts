import { createHash, pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** A hash as `mosquitto_passwd` writes it: `$7$` PBKDF2-SHA512 (its default since 2.0) or `$6$` salted SHA512. */
export type PasswordHash =
  | { readonly kind: 'pbkdf2-sha512'; readonly iterations: number; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly kind: 'sha512'; readonly salt: Buffer; readonly hash: Buffer };

const SHA512_BYTES = 64;
/** Mosquitto writes 101 (2.0) or 1000 (2.1); more than this is a damaged line, not a policy. */
const MAX_ITERATIONS = 10_000_000;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses the part after `user:`; undefined for anything else (plain text, argon2id, damage). */
export function parsePasswordHash(text: string): PasswordHash | undefined {
  const parts = text.split('$');
  // `$7$iterations$salt$hash` splits to ['', '7', iterations, salt, hash].
  if (parts[0] !== '') return undefined;
  if (parts[1] === '7' && parts.length === 5) {
    const iterations = /^[0-9]{1,8}$/.test(parts[2]!) ? Number(parts[2]) : NaN;
    if (!(iterations >= 1 && iterations <= MAX_ITERATIONS)) return undefined;
    const salt = decode(parts[3]!);
    const hash = decode(parts[4]!);
    if (!salt || hash?.length !== SHA512_BYTES) return undefined;
    return { kind: 'pbkdf2-sha512', iterations, salt, hash };
  }
  if (parts[1] === '6' && parts.length === 4) {
    const salt = decode(parts[2]!);
    const hash = decode(parts[3]!);
    if (!salt || hash?.length !== SHA512_BYTES) return undefined;
    return { kind: 'sha512', salt, hash };
  }
  return undefined;
}

function decode(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length > 0 ? bytes : undefined;
}

/** PBKDF2 runs on libuv's thread pool, so a CONNECT storm does not block the event loop. */
export async function verifyPassword(hash: PasswordHash, password: Buffer): Promise<boolean> {
  const computed =
    hash.kind === 'pbkdf2-sha512'
      ? await pbkdf2Async(password, hash.salt, hash.iterations, SHA512_BYTES, 'sha512')
      : createHash('sha512').update(password).update(hash.salt).digest();
  return timingSafeEqual(computed, hash.hash);
}
