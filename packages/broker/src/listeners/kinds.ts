import type { KindContext, ListenerKind, ListenerSpec } from './spec.ts';
import { tcpKind } from './tcp.ts';

// The TLS and WebSocket kinds load node:tls and the ws library (about 2 MiB of RSS): a node
// loads them only when a listener of theirs is configured.
const tls = () => import('./tls.ts');
const ws = () => import('./ws.ts');

/** The module for a spec's kind; rejects with a ListenerError when the spec cannot work (no certificate). */
export async function openKind(spec: ListenerSpec, context: KindContext): Promise<ListenerKind> {
  switch (spec.kind) {
    case 'tcp':
      return tcpKind();
    case 'tls':
      return (await tls()).tlsKind(spec, context);
    case 'ws':
      return (await ws()).wsKind(spec, context, tcpKind());
    case 'wss': {
      const [{ tlsKind }, { wsKind }] = await Promise.all([tls(), ws()]);
      return wsKind(spec, context, tlsKind(spec, context));
    }
    default:
      return assertNever(spec.kind);
  }
}

function assertNever(value: never): never {
  throw new Error(`unknown listener kind ${String(value)}`);
}
