import { ListenerError, type KindContext, type ListenerKind, type ListenerSpec } from './spec.ts';
import { tcpKind } from './tcp.ts';
import { tlsKind } from './tls.ts';

/** The module for a spec's kind; throws a ListenerError when the spec cannot work (no certificate). */
export function openKind(spec: ListenerSpec, context: KindContext): ListenerKind {
  switch (spec.kind) {
    case 'tcp':
      return tcpKind();
    case 'tls':
      return tlsKind(spec, context);
    case 'ws':
    case 'wss':
      throw new ListenerError(spec.name, `listener kind ${spec.kind} is not available yet`);
    default:
      return assertNever(spec.kind);
  }
}

function assertNever(value: never): never {
  throw new Error(`unknown listener kind ${String(value)}`);
}
