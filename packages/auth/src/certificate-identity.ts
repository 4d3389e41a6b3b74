import { ReasonCode } from '@roost/protocol';
import type { AuthProvider, Credentials, PeerCertificate, ProviderAnswer } from '@roost/broker';

export type CertificateIdentity = 'cn' | 'san';

/**
 * ROOST_TLS_IDENTITY, like Mosquitto's `use_identity_as_username`: the verified client
 * certificate is the client's identity, its CN (`cn`) or its first subject alternative name's
 * value (`san`: `DNS:device-1` gives `device-1`) becoming the user name for the ACL, whatever
 * user name and password the CONNECT carries. The certificate comes from the TLS socket or
 * from a PROXY v2 header's SSL TLV (ConnectionInfo holds only verified ones). A client with
 * no verified certificate, or one without that field, is refused as not authorized.
 */
export class CertificateIdentityProvider implements AuthProvider {
  readonly name = 'tls-identity';
  private readonly identity: CertificateIdentity;

  constructor(identity: CertificateIdentity) {
    this.identity = identity;
  }

  async authenticate(credentials: Credentials): Promise<ProviderAnswer> {
    const peer = credentials.info.tls?.peerCertificate;
    if (peer === undefined) return notAuthorized('no verified client certificate');
    const username = this.identity === 'cn' ? peer.subjectCN : firstSan(peer);
    if (username === undefined || username === '') return notAuthorized(`the client certificate has no ${this.identity === 'cn' ? 'CN' : 'subject alternative name'}`);
    return { outcome: 'accept', username };
  }
}

function firstSan(peer: PeerCertificate): string | undefined {
  const entry = peer.subjectAltNames[0];
  if (entry === undefined) return undefined;
  const colon = entry.indexOf(':');
  return colon < 0 ? entry : entry.slice(colon + 1);
}

function notAuthorized(reason: string): ProviderAnswer {
  return { outcome: 'deny', reasonCode: ReasonCode.NotAuthorized, reason };
}
