import { createServer, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { connectionInfo, formatRemote, type ConnectionInfo, type TlsInfo } from '../connection-info.ts';
import { CertificateFiles } from './certificate-files.ts';
import { ListenerError, type KindContext, type ListenerKind, type ListenerSpec } from './spec.ts';

interface Handshaking {
  info: ConnectionInfo;
  ready: (stream: Duplex, info: ConnectionInfo) => void;
}

/**
 * MQTT over TLS (node:tls). Sockets are handed to a tls.Server that never listens itself, so
 * that a pre-MQTT stage (the PROXY header) can read the raw socket first; the server does the
 * handshake, the client certificate check and the reloads (setSecureContext). A failed
 * handshake closes that socket alone, counted by reason and logged at info.
 */
export function tlsKind(spec: ListenerSpec, context: KindContext): ListenerKind {
  const settings = spec.tls;
  if (!settings) throw new ListenerError(spec.name, 'a TLS listener needs a certificate and a key');
  const { log, stats } = context;
  const server = createServer({
    // The client-certificate policy is checked on 'secureConnection' to count its reason.
    requestCert: settings.clientCert !== 'none',
    rejectUnauthorized: false,
    handshakeTimeout: context.limits.connectTimeout * 1000,
  });
  const files = new CertificateFiles(spec.name, settings, log, (options) => server.setSecureContext(options));
  server.setSecureContext(files.options);
  files.watch();
  /** Sockets in their handshake, by their TCP 4-tuple (the TLS socket reports the same addresses). */
  const handshaking = new Map<string, Handshaking>();

  const fail = (socket: TLSSocket, reason: string, detail: string | undefined) => {
    const key = tupleOf(socket);
    const entry = handshaking.get(key);
    handshaking.delete(key);
    stats.countTlsHandshakeFailure(reason);
    const remote = entry ? formatRemote(entry.info.remoteAddress, entry.info.remotePort) : formatRemote(socket.remoteAddress, socket.remotePort);
    log.info({ listener: spec.name, remote, reason, detail }, 'TLS handshake failed');
    socket.destroy();
  };

  server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => fail(socket, failureReason(error), error.code ?? error.message));
  server.on('secureConnection', (socket: TLSSocket) => {
    const key = tupleOf(socket);
    const entry = handshaking.get(key);
    if (!entry) {
      socket.destroy(); // its raw socket closed meanwhile
      return;
    }
    const peer = socket.getPeerX509Certificate();
    if (peer && !socket.authorized) return fail(socket, 'bad_client_certificate', socket.authorizationError?.toString());
    if (!peer && settings.clientCert === 'require') return fail(socket, 'no_client_certificate', undefined);
    handshaking.delete(key);
    entry.ready(socket, connectionInfo({ ...entry.info, tls: tlsInfoOf(socket) }));
  });

  return {
    upgrade(socket, info, ready) {
      const key = tupleOf(socket);
      handshaking.set(key, { info, ready });
      socket.once('close', () => handshaking.delete(key));
      // A documented way in: "this event can also be explicitly emitted to inject connections".
      server.emit('connection', socket);
    },
    close() {
      files.close();
    },
  };
}

/** Protocol, cipher and the verified client certificate of a finished handshake. */
function tlsInfoOf(socket: TLSSocket): TlsInfo {
  const peer = socket.getPeerX509Certificate();
  return {
    protocol: socket.getProtocol() ?? undefined,
    cipher: socket.getCipher()?.name,
    peerCertificate: peer && {
      subjectCN: /^CN=(.*)$/m.exec(peer.subject)?.[1],
      subjectAltNames: peer.subjectAltName ? peer.subjectAltName.split(', ') : [],
      fingerprint256: peer.fingerprint256,
    },
  };
}

function tupleOf(socket: Duplex): string {
  const s = socket as Duplex & { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number };
  return `${s.remoteAddress}:${s.remotePort}>${s.localAddress}:${s.localPort}`;
}

/** A few fixed labels for the failure counter, from OpenSSL's error codes. */
function failureReason(error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'no_client_certificate';
  if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE/.test(code)) return 'protocol_version';
  if (/NO_SHARED_CIPHER|NO_CIPHERS/.test(code)) return 'no_shared_cipher';
  if (/HTTP_REQUEST|WRONG_VERSION_NUMBER|UNEXPECTED_MESSAGE|UNKNOWN_PROTOCOL|PACKET_LENGTH|RECORD/.test(code)) return 'not_tls';
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN)/.test(code)) return 'client_refused_certificate';
  return 'other';
}
