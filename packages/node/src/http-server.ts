import type * as Http from 'node:http';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AdminApi } from './admin-api.ts';

// An ESM import of node:http reads every export, and its lazy `WebSocket` getter loads
// undici: about 13 MiB of RSS in every process. require() reads only createServer.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof Http;

export interface HealthSource {
  /** True once the node serves MQTT (and, in cluster mode, has joined the cluster). */
  ready(): boolean;
  /** Prometheus exposition, once the broker exists. */
  metrics?(): Promise<{ contentType: string; body: string }> | undefined;
}

/**
 * Liveness and readiness for Kubernetes probes. /healthz answers while the process runs;
 * /readyz only once the node can serve, so a load balancer waits for it. /api/ is the
 * operations API when `admin` is given, else not found whatever the method.
 */
export function createHttpServer(health: HealthSource, admin?: AdminApi): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path.startsWith('/api/')) {
      if (admin) admin(req, res);
      else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/metrics') {
      const scrape = health.metrics?.();
      if (!scrape) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('starting\n');
        return;
      }
      scrape.then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
      );
    } else if (path === '/readyz') {
      const ready = health.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
}
