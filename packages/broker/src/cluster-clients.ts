import type { Session } from '@roost/session';
import {
  HolderUnavailableError,
  viewOf,
  type ClientAdmin,
  type ClientPage,
  type ClientQuery,
  type ClientView,
  type KickOutcome,
  type NodeView,
  type UndescribedClient,
} from './client-view.ts';
import type { Peer } from './cluster.ts';
import type { BrokerCluster } from './cluster-node.ts';
import type { LocalClients } from './local-clients.ts';

/** What the operations port needs of the session store beyond the cluster ports. */
export interface StoredSessions {
  /** The stored session, read from the store (a session no live node holds). */
  read(clientId: string): Promise<Session | undefined>;
  /** Deletes a stored session that no node holds. */
  delete(clientId: string): Promise<void>;
}

/**
 * The operations port for a cluster: the session directory says which node holds each client,
 * and that node answers for it (DescribeClients, KickClient over the transport); a session
 * whose holder is not alive is read from the store.
 */
export class ClusterClients implements ClientAdmin {
  private readonly local: LocalClients;
  private readonly ports: BrokerCluster;
  private readonly stored: StoredSessions;

  constructor(local: LocalClients, ports: BrokerCluster, stored: StoredSessions) {
    this.local = local;
    this.ports = ports;
    this.stored = stored;
  }

  async nodes(): Promise<NodeView[]> {
    const members = await this.ports.registry.members();
    const self = this.local.nodeId;
    const views = members.map(({ nodeId, address, alive }): NodeView =>
      nodeId === self ? this.local.self(address) : { nodeId, address, alive, self: false },
    );
    if (!views.some((node) => node.self)) views.push(this.local.self(undefined));
    return views.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  async client(clientId: string): Promise<ClientView | undefined> {
    const holder = await this.ports.directory.holder(clientId);
    if (holder === this.local.nodeId) {
      const here = this.local.describe([clientId], true)[0];
      if (here) return here;
    } else if (holder !== undefined) {
      const peer = await this.alivePeer(holder);
      if (peer) {
        try {
          const [there] = await this.ports.transport.describeClients(peer, [clientId], true);
          if (there) return { ...there, node: holder };
        } catch (error) {
          // Dying (its heartbeat not yet lapsed) or cut off: an offline session's stored state
          // still stands; whether a stored connected one still is, only the holder knows.
          const session = await this.stored.read(clientId);
          if (session?.disconnectedAt === undefined) throw error;
          return viewOf(holder, session, undefined, true);
        }
      }
    }
    // Held by a node that is gone (not yet reaped) or by none: the stored session is the truth.
    const session = await this.stored.read(clientId);
    return session && viewOf(holder, session, undefined, true);
  }

  /**
   * One page of the directory (bounded: at most `limit` entries read), each entry described
   * by its holder with one call per holder node. A username filter applies to what the
   * holders answer, so such a page may hold fewer than `limit` clients with `next` still set.
   */
  async clients(query: ClientQuery): Promise<ClientPage> {
    const { entries, next } = await this.ports.directory.page({ limit: query.limit, after: query.after, prefix: query.prefix });
    const byNode = new Map<string, string[]>();
    for (const { nodeId, clientId } of entries) {
      const ids = byNode.get(nodeId);
      if (ids) ids.push(clientId);
      else byNode.set(nodeId, [clientId]);
    }
    const alive = new Map((await this.ports.registry.alive()).map((peer) => [peer.nodeId, peer]));
    const described = new Map<string, ClientView | UndescribedClient>();
    await Promise.all([...byNode].map(async ([nodeId, ids]) => {
      for (const view of await this.describeAt(nodeId, ids, alive.get(nodeId))) described.set(view.clientId, view);
    }));
    const clients: Array<ClientView | UndescribedClient> = [];
    for (const { clientId } of entries) {
      const view = described.get(clientId);
      if (!view) continue; // the session ended since the directory was read
      if (query.username !== undefined && !('connected' in view && view.username === query.username)) continue;
      clients.push(view);
    }
    return next ? { clients, next } : { clients };
  }

  private async describeAt(nodeId: string, ids: string[], peer: Peer | undefined): Promise<Array<ClientView | UndescribedClient>> {
    if (nodeId === this.local.nodeId) return this.local.describe(ids, false);
    if (!peer) return ids.map((clientId) => ({ clientId, node: nodeId, nodeAlive: false }));
    try {
      const views = await this.ports.transport.describeClients(peer, ids, false);
      return views.map((view) => ({ ...view, node: nodeId }));
    } catch {
      return ids.map((clientId) => ({ clientId, node: nodeId, nodeAlive: true }));
    }
  }

  async kick(clientId: string, discardSession: boolean): Promise<KickOutcome> {
    const holder = await this.ports.directory.holder(clientId);
    if (holder === this.local.nodeId) return this.local.kick(clientId, discardSession);
    if (holder !== undefined) {
      const peer = await this.alivePeer(holder);
      if (peer) return { ...(await this.ports.transport.kick(peer, clientId, discardSession)), node: holder };
      // A dead holder has no connection; its session waits for the survivor that adopts it.
      if (!discardSession) return { found: true, node: holder, disconnected: false, sessionDiscarded: false };
      throw new HolderUnavailableError(holder, 'holds the session and is not alive; a survivor adopts it within ROOST_NODE_TIMEOUT, try again then');
    }
    // No holder: at most a session left in the store, which a later CONNECT would resume.
    if (!(await this.stored.read(clientId))) return { found: false, disconnected: false, sessionDiscarded: false };
    if (discardSession) await this.stored.delete(clientId);
    return { found: true, disconnected: false, sessionDiscarded: discardSession };
  }

  private async alivePeer(nodeId: string): Promise<Peer | undefined> {
    return (await this.ports.registry.alive()).find((node) => node.nodeId === nodeId);
  }
}
