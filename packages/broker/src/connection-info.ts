/** The client certificate's identity, from the TLS socket or from a PROXY v2 header's TLVs. */
export interface PeerCertificate {
  readonly subjectCN: string | undefined;
  /** Subject Alternative Names as the certificate lists them, e.g. `DNS:device-1`, `URI:spiffe://…`. */
  readonly subjectAltNames: readonly string[];
  /** SHA-256 fingerprint, colon-separated hex as node:tls gives it; undefined when only the CN is known. */
  readonly fingerprint256: string | undefined;
}

export interface TlsInfo {
  /** e.g. `TLSv1.3`; undefined when the TLS was terminated before this node and not described. */
  readonly protocol: string | undefined;
  readonly cipher: string | undefined;
  /** Set only for a certificate that was verified against the CA. */
  readonly peerCertificate: PeerCertificate | undefined;
}

/**
 * Where a connection came from, fixed before its first MQTT byte is read: the listener, the
 * remote address (a PROXY header's when there is one) and the TLS identity. Authentication and
 * the logs read identities here; it is frozen so that nothing later rewrites who a client is.
 */
export interface ConnectionInfo {
  /** The listener's name: `mqtt`, `tls`, `ws`, `wss`. */
  readonly listener: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly tls: TlsInfo | undefined;
}

export function connectionInfo(fields: ConnectionInfo): ConnectionInfo {
  const tls = fields.tls && Object.freeze({ ...fields.tls, peerCertificate: freezeCertificate(fields.tls.peerCertificate) });
  return Object.freeze({ listener: fields.listener, remoteAddress: fields.remoteAddress, remotePort: fields.remotePort, tls });
}

function freezeCertificate(peer: PeerCertificate | undefined): PeerCertificate | undefined {
  return peer && Object.freeze({ ...peer, subjectAltNames: Object.freeze([...peer.subjectAltNames]) });
}

/** The fields of a log line that say who a client is: its address and certificate identity. */
export function describeInfo(info: ConnectionInfo): Record<string, unknown> {
  const fields: Record<string, unknown> = { listener: info.listener, remote: formatRemote(info.remoteAddress, info.remotePort) };
  const peer = info.tls?.peerCertificate;
  if (peer?.subjectCN !== undefined) fields.certCN = peer.subjectCN;
  if (peer?.fingerprint256 !== undefined) fields.certFingerprint = peer.fingerprint256;
  return fields;
}

/** `address:port`, an IPv6 address in brackets (RFC 3986 §3.2.2): `2001:db8::7:50002` reads as eight groups, not an address and a port. */
export function formatRemote(address: string | undefined, port: number | undefined): string {
  return address?.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
