// The SCRAM messages (RFC 5802 section 7) a server reads and writes, without channel binding.

/** The mechanisms offered, named as MQTT's Authentication Method carries them (RFC 7677, RFC 5802). */
export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
export const SCRAM_MECHANISMS: readonly ScramMechanism[] = ['SCRAM-SHA-256', 'SCRAM-SHA-512'];

export function isScramMechanism(method: string | undefined): method is ScramMechanism {
  return method === 'SCRAM-SHA-256' || method === 'SCRAM-SHA-512';
}

/** The mechanism's hash, as node:crypto names it, and its output length: Hi's dkLen and every key's. */
export function digestOf(mechanism: ScramMechanism): { hash: 'sha256' | 'sha512'; bytes: 32 | 64 } {
  return mechanism === 'SCRAM-SHA-256' ? { hash: 'sha256', bytes: 32 } : { hash: 'sha512', bytes: 64 };
}

/** A SCRAM message the server cannot take: the client's fault, answered with a refusal. */
export class ScramMessageError extends Error {
  override readonly name = 'ScramMessageError';
}

export interface ClientFirst {
  /** `n,,` or `y,,`, exactly as sent: client-final's `c=` must repeat it. */
  readonly gs2Header: string;
  /** client-first-message-bare, the first part of AuthMessage. */
  readonly bare: string;
  readonly username: string;
  readonly nonce: string;
}

export interface ClientFinal {
  /** client-final-message-without-proof, the last part of AuthMessage. */
  readonly withoutProof: string;
  readonly channelBinding: Buffer;
  readonly nonce: string;
  readonly proof: Buffer;
}

/** Far above any real message (a few hundred bytes); the parser never works on more. */
const MAX_MESSAGE_BYTES = 4096;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** RFC 5802 `printable`: %x21-2B / %x2D-7E, any ASCII graphic character but a comma. */
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
/** `attr-val`: one letter, `=`, then anything up to the next comma. */
const ATTRIBUTE = /^[A-Za-z]=/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(data: Buffer | undefined, what: string): string {
  if (data === undefined || data.length === 0) throw new ScramMessageError(`${what} missing (no Authentication Data)`);
  if (data.length > MAX_MESSAGE_BYTES) throw new ScramMessageError(`${what} longer than ${MAX_MESSAGE_BYTES} bytes`);
  try {
    return utf8.decode(data);
  } catch {
    throw new ScramMessageError(`${what} is not UTF-8`);
  }
}

/** `gs2-header client-first-message-bare`, with gs2-header `n,,` (or `y,,`: the client could bind, thinks we cannot, and is right). */
export function parseClientFirst(data: Buffer | undefined): ClientFirst {
  const message = text(data, 'client-first-message');
  const flag = message.slice(0, message.indexOf(','));
  if (flag.startsWith('p=')) throw new ScramMessageError('channel binding is not supported (use gs2 header "n,,")');
  if (flag !== 'n' && flag !== 'y') throw new ScramMessageError('client-first-message does not start with a gs2 header "n,,"');
  const authzEnd = message.indexOf(',', flag.length + 1);
  if (authzEnd < 0) throw new ScramMessageError('client-first-message has an unterminated gs2 header');
  // RFC 5802 5.1: an authorization identity other than the user itself; none is offered.
  if (authzEnd !== flag.length + 1) throw new ScramMessageError('an authorization identity (a=) is not supported');
  const gs2Header = message.slice(0, authzEnd + 1);
  const bare = message.slice(authzEnd + 1);
  const [user, nonce, ...extensions] = bare.split(',');
  // RFC 5802 5.1 `m`: a mandatory extension this server does not know fails the exchange.
  if (user?.startsWith('m=')) throw new ScramMessageError('mandatory extensions (m=) are not supported');
  if (!user?.startsWith('n=')) throw new ScramMessageError('client-first-message-bare does not start with n=<user name>');
  const username = decodeSaslname(user.slice(2));
  const clientNonce = nonceOf(nonce);
  checkExtensions(extensions);
  return { gs2Header, bare, username, nonce: clientNonce };
}

/** `c=<gs2 header, base64>,r=<nonce>[,extensions],p=<proof, base64>`. */
export function parseClientFinal(data: Buffer | undefined): ClientFinal {
  const message = text(data, 'client-final-message');
  const proofAt = message.lastIndexOf(',p=');
  if (proofAt < 0) throw new ScramMessageError('client-final-message has no proof (p=)');
  const withoutProof = message.slice(0, proofAt);
  const [binding, nonce, ...extensions] = withoutProof.split(',');
  if (!binding?.startsWith('c=')) throw new ScramMessageError('client-final-message does not start with c=<channel binding>');
  const channelBinding = base64(binding.slice(2), 'channel binding');
  const clientNonce = nonceOf(nonce);
  checkExtensions(extensions);
  const proof = base64(message.slice(proofAt + 3), 'proof');
  return { withoutProof, channelBinding, nonce: clientNonce, proof };
}

export function serverFirstMessage(nonce: string, salt: Buffer, iterations: number): string {
  return `r=${nonce},s=${salt.toString('base64')},i=${iterations}`;
}

export function serverFinalMessage(serverSignature: Buffer): string {
  return `v=${serverSignature.toString('base64')}`;
}

/** `saslname`: `,` and `=` travel as `=2C` and `=3D`; any other `=` is an error (RFC 5802 5.1). */
export function decodeSaslname(value: string): string {
  if (value === '') throw new ScramMessageError('the user name is empty');
  if (value.includes('\0')) throw new ScramMessageError('the user name holds a NUL character');
  const decoded = value.replace(/=(2C|3D)|=/g, (escape, code: string | undefined) => {
    if (code === undefined) throw new ScramMessageError(`the user name has a "=" that is not =2C or =3D`);
    return code === '2C' ? ',' : '=';
  });
  return decoded;
}

function nonceOf(attribute: string | undefined): string {
  if (!attribute?.startsWith('r=')) throw new ScramMessageError('no nonce (r=) where the message needs one');
  const nonce = attribute.slice(2);
  if (!NONCE.test(nonce)) throw new ScramMessageError('the nonce is empty or holds characters outside printable ASCII');
  return nonce;
}

/** Optional extensions are ignored, as RFC 5802 says, but must have the attribute's shape. */
function checkExtensions(extensions: string[]): void {
  for (const extension of extensions) {
    if (!ATTRIBUTE.test(extension)) throw new ScramMessageError('an attribute is not of the form x=value');
  }
}

function base64(value: string, what: string): Buffer {
  if (value === '' || !BASE64.test(value)) throw new ScramMessageError(`the ${what} is not base64`);
  return Buffer.from(value, 'base64');
}
