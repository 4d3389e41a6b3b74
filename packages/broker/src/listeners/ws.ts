import type * as Http from 'node:http';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { formatRemote, type ConnectionInfo } from '../connection-info.ts';
import type { KindContext, ListenerKind, ListenerSpec } from './spec.ts';
import { WebSocketStream } from './websocket-stream.ts';

// Not an ESM import: that reads node:http's lazy `WebSocket` getter, which loads undici
// (about 13 MiB of RSS) into every node, WebSocket listener or not.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof Http;

/** MQTT 3.1.1 and 5.0 name `mqtt` (§6); 3.1 clients offer `mqttv3.1`. */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

interface Upgrading {
  info: ConnectionInfo;
  ready: (stream: Duplex, info: ConnectionInfo) => void;
}

/**
 * MQTT over WebSocket (`ws` library), over plain TCP or over `inner` TLS (`wss`). The stream
 * from the inner kind is handed to an HTTP server that never listens itself; only an upgrade
 * on the configured path that offers an MQTT subprotocol becomes a connection, anything else
 * gets an HTTP error.
 */
export function wsKind(spec: ListenerSpec, context: KindContext, inner: ListenerKind): ListenerKind {
  const path = spec.path ?? '/mqtt';
  const { log } = context;
  const upgrading = new WeakMap<Duplex, Upgrading>();
  const websockets = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    // A frame may carry several packets; the packet size limit itself is the PacketReader's.
    maxPayload: Math.max(2 * context.limits.maxPacketSize, 1 << 20),
    handleProtocols: (offered: Set<string>) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  const http = createServer((_req, res) => {
    res.writeHead(426, { upgrade: 'websocket', connection: 'close', 'content-type': 'text/plain' }).end('MQTT over WebSocket: upgrade required\n');
  });

  const refuse = (socket: Duplex, req: IncomingMessage, status: number, reason: string) => {
    const entry = upgrading.get(socket);
    log.info({ listener: spec.name, remote: entry && formatRemote(entry.info.remoteAddress, entry.info.remotePort), path: req.url, status, reason }, 'WebSocket upgrade refused');
    const body = `${reason}\n`;
    socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Bad Request'}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  };

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const entry = upgrading.get(socket);
    if (!entry) return void socket.destroy();
    if (new URL(req.url ?? '/', 'http://x').pathname !== path) return refuse(socket, req, 404, `no MQTT endpoint at this path; use ${path}`);
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.some((p) => SUBPROTOCOLS.includes(p))) return refuse(socket, req, 400, 'an MQTT subprotocol (mqtt) is required');
    websockets.handleUpgrade(req, socket, head, (ws) => entry.ready(new WebSocketStream(ws), entry.info));
  });
  http.on('clientError', (_error: Error, socket: Duplex) => socket.destroy());

  return {
    upgrade(socket, info, ready) {
      inner.upgrade(socket, info, (stream, completed) => {
        upgrading.set(stream, { info: completed, ready });
        // A documented way in: 'connection' may be emitted to hand a stream to the server.
        http.emit('connection', stream);
        // After a prelude a plain socket comes paused; the HTTP parser reads once it flows.
        if (stream.isPaused()) stream.resume();
      });
    },
    close() {
      inner.close();
    },
  };
}
