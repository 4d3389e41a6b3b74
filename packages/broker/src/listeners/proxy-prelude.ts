// The pre-MQTT stage of a listener behind a proxy (ROOST_PROXY_PROTOCOL): reads the PROXY header
// off the raw socket, then hands the listener the client's real address, the TLS identity the
// header's TLVs carry, and the bytes read past the header.
import { formatRemote, type TlsInfo } from '../connection-info.ts';
import type { Logger } from '../options.ts';
import type { BrokerStats } from '../stats.ts';
import { ProxyHeaderReader, type ProxyHeader, type ProxyHeaderFailure } from './proxy-protocol.ts';
import type { Prelude, PreludeResult } from './spec.ts';

/** Why a PROXY listener closed a connection before MQTT: the reader's reasons, or no header in time. */
export type ProxyPreludeFailure = ProxyHeaderFailure | 'timeout';

export class ProxyHeaderError extends Error {
  override readonly name = 'ProxyHeaderError';
  readonly reason: ProxyPreludeFailure;

  constructor(reason: ProxyPreludeFailure, detail: string) {
    super(`PROXY header refused (${reason}): ${detail}`);
    this.reason = reason;
  }
}

export interface ProxyPreludeContext {
  log: Logger;
  /** Counts refused headers by reason (a metric label). */
  stats: Pick<BrokerStats, 'countProxyHeaderFailure'>;
}

/**
 * A header is required: a connection without one is refused, never read as MQTT [spec 2: the
 * receiver must not guess whether the header is present]. A client's fault, so logged at info.
 */
export function proxyProtocolPrelude({ log, stats }: ProxyPreludeContext): Prelude {
  return (socket, { info, signal }) =>
    new Promise<PreludeResult>((resolve, reject) => {
      const reader = new ProxyHeaderReader();
      const finish = () => {
        socket.pause();
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.off('error', onError);
        signal.removeEventListener('abort', onAbort);
      };
      const refuse = (reason: ProxyPreludeFailure, detail: string) => {
        finish();
        stats.countProxyHeaderFailure(reason);
        // At the deadline the listener's sweep has logged the closing already.
        if (reason !== 'timeout') log.info({ listener: info.listener, remote: formatRemote(info.remoteAddress, info.remotePort), reason, detail }, 'PROXY header refused');
        reject(new ProxyHeaderError(reason, detail));
      };
      const onData = (chunk: Buffer) => {
        const result = reader.feed(chunk);
        if (result.status === 'more') return;
        if (result.status === 'error') return refuse(result.reason, result.detail);
        finish();
        resolve({ info: infoFrom(result.header), leftover: result.rest.length > 0 ? result.rest : undefined });
      };
      const onEnd = () => {
        const ended = reader.end();
        refuse('truncated', ended.status === 'error' ? ended.detail : 'the stream ended');
      };
      // A reset mid-header: 'close' follows and refuses it; without a listener the error would throw.
      const onError = () => {};
      const onAbort = () => refuse('timeout', 'no complete PROXY header within the CONNECT timeout');
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.on('error', onError);
      socket.resume();
    });
}

/**
 * What the header says about the client. LOCAL (a health check), v1 UNKNOWN and address-less
 * families give nothing: the socket's own address stays [spec 2.1, 2.2].
 */
export function infoFrom(header: ProxyHeader): PreludeResult['info'] {
  if (header.command === 'local' || header.source === undefined) return {};
  const tls = tlsFrom(header);
  return { remoteAddress: header.source.address, remotePort: header.source.port, ...(tls && { tls }) };
}

/** The proxy terminated TLS: its version and cipher, and the CN only of a certificate it verified. */
function tlsFrom(header: ProxyHeader): TlsInfo | undefined {
  const ssl = header.ssl;
  if (!ssl?.tls) return undefined;
  const peerCertificate = ssl.certificateVerified && ssl.commonName !== undefined ? { subjectCN: ssl.commonName, subjectAltNames: [], fingerprint256: undefined } : undefined;
  return { protocol: ssl.version, cipher: ssl.cipher, peerCertificate };
}
