import { randomBytes, timingSafeEqual } from 'node:crypto';
import { digest, hmac, type ScramCredentials } from './scram-credentials.ts';
import {
  parseClientFinal,
  ScramMessageError,
  serverFinalMessage,
  serverFirstMessage,
  type ClientFirst,
} from './scram-messages.ts';

/** The server's part of the nonce: 18 random bytes, 24 base64 characters, never a comma. */
export function randomNonce(): string {
  return randomBytes(18).toString('base64');
}

export type ScramOutcome = { readonly ok: true; readonly serverFinal: string } | { readonly ok: false; readonly reason: string };

/**
 * The server's side of one SCRAM exchange (RFC 5802 section 5), from client-first to
 * server-final. Pure apart from the nonce: the state a connection's exchange needs lives here,
 * not in the channel. `genuine` false (a decoy for a user nobody holds) runs the same steps and
 * always fails, so an unknown user costs and looks like a wrong password.
 */
export class ScramExchange {
  readonly serverFirst: string;
  private readonly first: ClientFirst;
  private readonly credentials: ScramCredentials;
  private readonly genuine: boolean;
  private readonly nonce: string;
  private finished = false;

  constructor(first: ClientFirst, credentials: ScramCredentials, genuine: boolean, serverNonce: string = randomNonce()) {
    this.first = first;
    this.credentials = credentials;
    this.genuine = genuine;
    this.nonce = first.nonce + serverNonce;
    this.serverFirst = serverFirstMessage(this.nonce, credentials.salt, credentials.iterations);
  }

  get username(): string {
    return this.first.username;
  }

  /** client-final-message in, the verdict out; a malformed message throws ScramMessageError. */
  finish(data: Buffer | undefined): ScramOutcome {
    if (this.finished) throw new ScramMessageError('the exchange is over');
    this.finished = true;
    const final = parseClientFinal(data);
    // No channel binding: `c=` carries the gs2 header alone, as client-first sent it.
    if (!final.channelBinding.equals(Buffer.from(this.first.gs2Header))) throw new ScramMessageError('the channel binding (c=) is not the gs2 header of client-first-message');
    if (final.nonce !== this.nonce) throw new ScramMessageError('the nonce (r=) is not the one server-first-message gave');
    const { mechanism, storedKey, serverKey } = this.credentials;
    if (final.proof.length !== storedKey.length) throw new ScramMessageError(`the proof (p=) is not ${storedKey.length} bytes`);
    const authMessage = `${this.first.bare},${this.serverFirst},${final.withoutProof}`;
    const clientSignature = hmac(mechanism, storedKey, authMessage);
    const clientKey = Buffer.alloc(clientSignature.length);
    for (let i = 0; i < clientKey.length; i++) clientKey[i] = final.proof[i]! ^ clientSignature[i]!;
    const matches = timingSafeEqual(digest(mechanism, clientKey), storedKey);
    const serverSignature = hmac(mechanism, serverKey, authMessage);
    if (!matches || !this.genuine) return { ok: false, reason: 'invalid-proof' };
    return { ok: true, serverFinal: serverFinalMessage(serverSignature) };
  }
}
