import { argon2, createHash, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { parseScramEntry, verifyScramPassword, type ScramCredentials } from './scram-credentials.ts';

const pbkdf2Async = promisify(pbkdf2);
const argon2Async = promisify(argon2);

/**
 * A hash as `mosquitto_passwd` writes it: `$7$` PBKDF2-SHA512 (its default since 2.0), `$6$`
 * salted SHA512 (1.6), or `$argon2id$` in the PHC string format libargon2 encodes (2.1); or
 * Roost's own `$scram-sha-256$` / `$scram-sha-512$` entry, for SCRAM (and plain passwords too).
 */
export type PasswordHash =
  | { readonly kind: 'pbkdf2-sha512'; readonly iterations: number; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly kind: 'sha512'; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly kind: 'argon2id'; readonly memory: number; readonly passes: number; readonly parallelism: number; readonly salt: Buffer; readonly hash: Buffer }
  | ({ readonly kind: 'scram' } & ScramCredentials);

const SHA512_BYTES = 64;
/** Mosquitto writes 101 (2.0) or 1000 (2.1); more than this is a damaged line, not a policy. */
const MAX_ITERATIONS = 10_000_000;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** The PHC format's base64: no padding. */
const BASE64_NO_PAD = /^[A-Za-z0-9+/]+$/;

/**
 * Bounds on an argon2id line's cost: a damaged or hostile line must not make each CONNECT
 * take a gigabyte or a minute. Mosquitto 2.1 and OWASP's advice sit far below them.
 */
const ARGON2 = {
  maxMemoryKiB: 1024 * 1024,
  maxPasses: 64,
  maxParallelism: 64,
  // RFC 9106 3.1: at least 8 bytes of salt and 4 of tag; libargon2's own limits.
  minSaltBytes: 8,
  minHashBytes: 4,
  maxHashBytes: 1024,
} as const;
/** RFC 9106 is version 0x13; the older 0x10 is a different function. */
const ARGON2_VERSION = 'v=19';

/** Parses the part after `user:`; undefined for anything else (plain text, damage). */
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
  if (parts[1] === 'argon2id' && parts.length === 6) return parseArgon2id(parts[2]!, parts[3]!, parts[4]!, parts[5]!);
  if (parts[1] === 'scram-sha-256' || parts[1] === 'scram-sha-512') {
    const credentials = parseScramEntry(parts);
    return credentials === undefined ? undefined : { kind: 'scram', ...credentials };
  }
  return undefined;
}

/** `$argon2id$v=19$m=65536,t=3,p=4$salt$hash`, the parameters in that order as libargon2 writes them. */
function parseArgon2id(version: string, params: string, saltText: string, hashText: string): PasswordHash | undefined {
  if (version !== ARGON2_VERSION) return undefined;
  const match = /^m=([0-9]{1,10}),t=([0-9]{1,10}),p=([0-9]{1,10})$/.exec(params);
  if (!match) return undefined;
  const [memory, passes, parallelism] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (!(parallelism >= 1 && parallelism <= ARGON2.maxParallelism)) return undefined;
  if (!(passes >= 1 && passes <= ARGON2.maxPasses)) return undefined;
  // RFC 9106 3.1: at least 8 KiB per lane.
  if (!(memory >= 8 * parallelism && memory <= ARGON2.maxMemoryKiB)) return undefined;
  const salt = decode(saltText, BASE64_NO_PAD);
  const hash = decode(hashText, BASE64_NO_PAD);
  if (!salt || salt.length < ARGON2.minSaltBytes) return undefined;
  if (!hash || hash.length < ARGON2.minHashBytes || hash.length > ARGON2.maxHashBytes) return undefined;
  return { kind: 'argon2id', memory, passes, parallelism, salt, hash };
}

function decode(text: string, alphabet = BASE64): Buffer | undefined {
  if (!alphabet.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length > 0 ? bytes : undefined;
}

/**
 * A `$7$` hash of at most this many iterations is computed on the event loop, as Mosquitto
 * computes every hash. At Mosquitto 2.0's 101 iterations the hash takes ~40 us of CPU, while
 * handing it to libuv's thread pool cost the event loop ~100 us per CONNECT in a 10k login storm
 * on 2 cores (a CPU profile of bench:compare's auth-connect row: the job's creation and queueing
 * contend with the pool's threads), besides the hash itself on another thread and the wake-up.
 * Above it (Mosquitto 2.1 writes 1000: ~0.4 ms) the pool keeps one login from stalling every
 * other client's packets.
 */
export const INLINE_PBKDF2_MAX_ITERATIONS = 256;

/** Argon2 and costly PBKDF2 run on libuv's thread pool, so a CONNECT storm does not block the event loop. */
export async function verifyPassword(hash: PasswordHash, password: Buffer): Promise<boolean> {
  if (hash.kind === 'scram') return verifyScramPassword(hash, password);
  const computed = await compute(hash, password);
  return timingSafeEqual(computed, hash.hash);
}

function compute(hash: Exclude<PasswordHash, { kind: 'scram' }>, password: Buffer): Promise<Buffer> | Buffer {
  switch (hash.kind) {
    case 'pbkdf2-sha512':
      if (hash.iterations <= INLINE_PBKDF2_MAX_ITERATIONS) return pbkdf2Sync(password, hash.salt, hash.iterations, SHA512_BYTES, 'sha512');
      return pbkdf2Async(password, hash.salt, hash.iterations, SHA512_BYTES, 'sha512');
    case 'sha512':
      return createHash('sha512').update(password).update(hash.salt).digest();
    case 'argon2id':
      return argon2Async('argon2id', {
        message: password,
        nonce: hash.salt,
        parallelism: hash.parallelism,
        tagLength: hash.hash.length,
        memory: hash.memory,
        passes: hash.passes,
      });
  }
}

/** Mosquitto 2.1's default; 2.0 wrote 101. Every Mosquitto 2 reads the count from the line. */
export const PBKDF2_ITERATIONS = 1000;
/** The salt length mosquitto_passwd uses. */
const SALT_BYTES = 12;

/** A `$7$` line's hash part, as `mosquitto_passwd` writes it, for a new or changed user. */
export async function hashPassword(password: Buffer, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await pbkdf2Async(password, salt, iterations, SHA512_BYTES, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}
