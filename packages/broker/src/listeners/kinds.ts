import type { KindContext, ListenerKind, ListenerSpec } from './spec.ts';
import { tcpKind } from './tcp.ts';
import { tlsKind } from './tls.ts';
import { wsKind } from './ws.ts';

/** The module for a spec's kind; throws a ListenerError when the spec cannot work (no certificate). */
export function openKind(spec: ListenerSpec, context: KindContext): ListenerKind {
  switch (spec.kind) {
    case 'tcp':
      return tcpKind();
    case 'tls':
      return tlsKind(spec, context);
    case 'ws':
      return wsKind(spec, context, tcpKind());
    case 'wss':
      return wsKind(spec, context, tlsKind(spec, context));
    default:
      return assertNever(spec.kind);
  }
}

function assertNever(value: never): never {
  throw new Error(`unknown listener kind ${String(value)}`);
}
