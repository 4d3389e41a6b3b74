import { ReasonCode } from '@roost/protocol';
import type { Session } from '@roost/session';
import {
  viewOf,
  type ClientAdmin,
  type ClientPage,
  type ClientQuery,
  type ClientView,
  type KickOutcome,
  type NodeView,
} from './client-view.ts';
import type { Connection } from './connection.ts';

/** What the operations port reads and does on this node; the broker wires it to its lifecycle and keeper. */
export interface LocalSessions {
  nodeId: string;
  /** CONNECTed clients by client id. */
  connections: ReadonlyMap<string, Connection>;
  /** Sessions held here, connected or not. */
  held: ReadonlyMap<string, Session>;
  /** Disconnects the client (v5 0x98) and ends its session here; false when none is held here. */
  discard(clientId: string): Promise<boolean>;
}

/**
 * The operations port on this node's own clients: a single node's whole answer, and what a
 * cluster node answers its peers (DescribeClients, KickClient).
 */
export class LocalClients implements ClientAdmin {
  private readonly local: LocalSessions;

  constructor(local: LocalSessions) {
    this.local = local;
  }

  get nodeId(): string {
    return this.local.nodeId;
  }

  /** This node as it sees itself. */
  self(address: string | undefined): NodeView {
    return { nodeId: this.local.nodeId, address, alive: true, self: true, connections: this.local.connections.size, sessions: this.local.held.size };
  }

  async nodes(): Promise<NodeView[]> {
    return [this.self(undefined)];
  }

  /** The sessions held here among `clientIds`, in that order; unknown ids are left out. */
  describe(clientIds: readonly string[], withSubscriptions: boolean): ClientView[] {
    const views: ClientView[] = [];
    for (const clientId of clientIds) {
      const connection = this.local.connections.get(clientId);
      const session = connection?.channel.session ?? this.local.held.get(clientId);
      if (session) views.push(viewOf(this.local.nodeId, session, connection, withSubscriptions));
    }
    return views;
  }

  async client(clientId: string): Promise<ClientView | undefined> {
    return this.describe([clientId], true)[0];
  }

  /**
   * Walks the sessions held here once, keeping the `limit` smallest ids after the cursor (in
   * memory, no I/O: about O(sessions) per page), so a page never sorts the whole table.
   */
  async clients(query: ClientQuery): Promise<ClientPage> {
    const after = query.after?.clientId;
    const prefix = query.prefix ?? '';
    let picked: string[] = [];
    for (const [clientId] of this.local.held) {
      if (after !== undefined && clientId <= after) continue;
      if (!clientId.startsWith(prefix)) continue;
      if (query.username !== undefined && this.local.connections.get(clientId)?.channel.username !== query.username) continue;
      picked.push(clientId);
      if (picked.length >= 2 * query.limit) picked = smallest(picked, query.limit);
    }
    picked = smallest(picked, query.limit + 1);
    const more = picked.length > query.limit;
    const page = picked.slice(0, query.limit);
    const last = page.at(-1);
    return { clients: this.describe(page, false), ...(more && last !== undefined ? { next: { nodeId: '', clientId: last } } : {}) };
  }

  async kick(clientId: string, discardSession: boolean): Promise<KickOutcome> {
    const connection = this.local.connections.get(clientId);
    const node = this.local.nodeId;
    if (!connection && !this.local.held.has(clientId)) return { found: false, disconnected: false, sessionDiscarded: false };
    if (discardSession) {
      const sessionDiscarded = await this.local.discard(clientId);
      return { found: true, node, disconnected: connection !== undefined, sessionDiscarded };
    }
    connection?.disconnect(ReasonCode.AdministrativeAction, 'disconnected by an operator');
    return { found: true, node, disconnected: connection !== undefined, sessionDiscarded: false };
  }
}

function smallest(ids: string[], count: number): string[] {
  return ids.sort().slice(0, count);
}
