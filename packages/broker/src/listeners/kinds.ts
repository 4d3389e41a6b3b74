import type { BrokerLimits, Logger } from '../options.ts';
import type { BrokerStats } from '../stats.ts';
import { ListenerError, type ListenerKind, type ListenerSpec } from './spec.ts';
import { tcpKind } from './tcp.ts';

/** What a listener kind may use of the node. */
export interface KindContext {
  log: Logger;
  stats: BrokerStats;
  limits: BrokerLimits;
}

/** The module for a spec's kind; throws a ListenerError when the spec cannot work (no certificate). */
export function openKind(spec: ListenerSpec, _context: KindContext): ListenerKind {
  switch (spec.kind) {
    case 'tcp':
      return tcpKind();
    case 'tls':
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
