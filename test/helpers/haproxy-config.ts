// The shipped deploy/haproxy files made runnable on loopback with as little changed as
// possible: the bind address, the certificate path, and the server-template line (Kubernetes
// DNS) replaced by one static server line per test node. Everything else stays byte for byte,
// and `unchanged()` lets a test prove it.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const SHIPPED = {
  terminating: fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url)),
  passthrough: fileURLToPath(new URL('../../deploy/haproxy/haproxy-passthrough.cfg', import.meta.url)),
};

export interface LoopbackServer {
  /** The node's MQTT (or TLS, for passthrough) port, where its PROXY listener is. */
  port: number;
  /** Its HTTP port, for the /readyz check. */
  httpPort: number;
}

export interface Substitutions {
  /** Where the frontend listens instead of `:8883`. */
  bind: { host: string; port: number };
  /** Replaces the shipped certificate path (terminating variant only). */
  certFile?: string;
  servers: LoopbackServer[];
}

export interface Substituted {
  shipped: string;
  config: string;
  /** Each replaced line of the shipped file and what stands in its place. */
  changes: Array<{ from: string; to: string[] }>;
}

const SHIPPED_CERT = '/etc/haproxy/certs/mqtt-server.pem';

/** Reads a shipped file and applies the substitutions; throws if a line to replace is not there exactly once. */
export async function substitute(file: string, subs: Substitutions): Promise<Substituted> {
  const shipped = await readFile(file, 'utf8');
  const changes: Substituted['changes'] = [];
  const lines = shipped.split('\n');
  const replaceOne = (what: string, test: (line: string) => boolean, make: (line: string) => string[]) => {
    const at = lines.flatMap((line, i) => (test(line) ? [i] : []));
    if (at.length !== 1) throw new Error(`${file}: expected one ${what} line, found ${at.length}`);
    const from = lines[at[0]!]!;
    const to = make(from);
    changes.push({ from, to });
    lines.splice(at[0]!, 1, ...to);
  };
  replaceOne('bind', (line) => /^\s*bind :8883\b/.test(line), (line) => {
    let to = line.replace('bind :8883', `bind ${subs.bind.host}:${subs.bind.port}`);
    if (subs.certFile !== undefined) to = to.replace(SHIPPED_CERT, subs.certFile);
    return [to];
  });
  replaceOne('server-template', (line) => /^\s*server-template /.test(line), (line) => {
    const indent = /^\s*/.exec(line)![0];
    return subs.servers.map((server, i) => `${indent}server roost${i + 1} 127.0.0.1:${server.port} port ${server.httpPort}`);
  });
  return { shipped, config: lines.join('\n'), changes };
}

/** The shipped file's lines without the replaced ones, and the config's without their stand-ins: equal if nothing else changed. */
export function unchanged({ shipped, config, changes }: Substituted): { shipped: string[]; config: string[] } {
  const from = new Set(changes.map((c) => c.from));
  const to = new Set(changes.flatMap((c) => c.to));
  return { shipped: shipped.split('\n').filter((line) => !from.has(line)), config: config.split('\n').filter((line) => !to.has(line)) };
}
