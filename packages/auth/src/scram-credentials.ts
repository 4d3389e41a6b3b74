import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { digestOf, isScramMechanism, type ScramMechanism } from './scram-messages.ts';

const pbkdf2Async = promisify(pbkdf2);

/**
 * What a server keeps of a SCRAM user (RFC 5802 section 3): enough to check a proof and to
 * prove itself, not enough to log in as the user. The password is not among them.
 */
export interface ScramCredentials {
  readonly mechanism: ScramMechanism;
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** RFC 7677 section 4: at least 4096. */
export const SCRAM_ITERATIONS = 4096;
const SALT_BYTES = 16;
/** As for `$7$` lines: more is a damaged line, not a policy. */
const MAX_ITERATIONS = 10_000_000;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A password SASLprep refuses (control characters, unassigned code points): it could not be typed the same on every client. */
export class ScramPasswordError extends Error {
  override readonly name = 'ScramPasswordError';
}

type Saslprep = (input: string) => string;
let saslprepFn: Saslprep | undefined;

/**
 * SASLprep's Unicode tables are gunzipped into ~2 MiB when the module loads, and every node
 * imports this package: they are required at the first SCRAM password prepared, so a node
 * whose clients never use SCRAM does not carry them (issue #13's memory at rest). A sync
 * require keeps preparePassword synchronous; the package is CommonJS.
 */
function saslprep(password: string): string {
  saslprepFn ??= (createRequire(import.meta.url)('@mongodb-js/saslprep') as { saslprep: Saslprep }).saslprep;
  return saslprepFn(password);
}

/** Normalize(password) of RFC 5802 2.2: SASLprep, then UTF-8. */
export function preparePassword(password: string): Buffer {
  try {
    return Buffer.from(saslprep(password), 'utf8');
  } catch (error) {
    throw new ScramPasswordError(`the password cannot be used with SCRAM: ${(error as Error).message}`);
  }
}

export function hmac(mechanism: ScramMechanism, key: Buffer, text: string | Buffer): Buffer {
  return createHmac(digestOf(mechanism).hash, key).update(text).digest();
}

export function digest(mechanism: ScramMechanism, data: Buffer): Buffer {
  return createHash(digestOf(mechanism).hash).update(data).digest();
}

/** Hi() is PBKDF2 with the mechanism's HMAC and dkLen its output length; on the thread pool. */
async function saltedPassword(mechanism: ScramMechanism, prepared: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  const { hash, bytes } = digestOf(mechanism);
  return pbkdf2Async(prepared, salt, iterations, bytes, hash);
}

function clientKeyOf(mechanism: ScramMechanism, salted: Buffer): Buffer {
  return hmac(mechanism, salted, 'Client Key');
}

/** A new user's entry; the salt is random unless given (tests). */
export async function scramCredentials(
  mechanism: ScramMechanism,
  password: string,
  iterations = SCRAM_ITERATIONS,
  salt: Buffer = randomBytes(SALT_BYTES),
): Promise<ScramCredentials> {
  const salted = await saltedPassword(mechanism, preparePassword(password), salt, iterations);
  const storedKey = digest(mechanism, clientKeyOf(mechanism, salted));
  const serverKey = hmac(mechanism, salted, 'Server Key');
  return { mechanism, iterations, salt, storedKey, serverKey };
}

/** The part after `user:` in a password file (and a Redis users hash value): `$scram-sha-256$4096$salt$StoredKey$ServerKey`. */
export function formatScramEntry(credentials: ScramCredentials): string {
  const { mechanism, iterations, salt, storedKey, serverKey } = credentials;
  return `$${mechanism.toLowerCase()}$${iterations}$${salt.toString('base64')}$${storedKey.toString('base64')}$${serverKey.toString('base64')}`;
}

/** `parts` are the entry split on `$` (['', 'scram-sha-256', iterations, salt, StoredKey, ServerKey]); undefined when damaged. */
export function parseScramEntry(parts: readonly string[]): ScramCredentials | undefined {
  if (parts.length !== 6 || parts[0] !== '') return undefined;
  const mechanism = parts[1]!.toUpperCase();
  if (!isScramMechanism(mechanism)) return undefined;
  const iterations = /^[0-9]{1,8}$/.test(parts[2]!) ? Number(parts[2]) : NaN;
  if (!(iterations >= 1 && iterations <= MAX_ITERATIONS)) return undefined;
  const [salt, storedKey, serverKey] = [decode(parts[3]!), decode(parts[4]!), decode(parts[5]!)];
  const { bytes } = digestOf(mechanism);
  if (salt === undefined || storedKey?.length !== bytes || serverKey?.length !== bytes) return undefined;
  return { mechanism, iterations, salt, storedKey, serverKey };
}

/**
 * A plain CONNECT password against a SCRAM entry: the client's key is derived as a SCRAM
 * client would, and its hash compared with StoredKey. A user moved to SCRAM keeps logging in
 * with a user name and password (a v3 client, say).
 */
export async function verifyScramPassword(credentials: ScramCredentials, password: Buffer): Promise<boolean> {
  let prepared: Buffer;
  try {
    prepared = preparePassword(new TextDecoder('utf-8', { fatal: true }).decode(password));
  } catch {
    return false; // not UTF-8, or refused by SASLprep: no entry can have been made from it
  }
  const { mechanism } = credentials;
  const salted = await saltedPassword(mechanism, prepared, credentials.salt, credentials.iterations);
  return timingSafeEqual(digest(mechanism, clientKeyOf(mechanism, salted)), credentials.storedKey);
}

function decode(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length > 0 ? bytes : undefined;
}
