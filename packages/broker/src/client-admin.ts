import type { ClientAdmin } from './client-view.ts';
import { ClusterClients } from './cluster-clients.ts';
import type { ClusterNode } from './cluster-node.ts';
import { LocalClients } from './local-clients.ts';
import type { SessionKeeper } from './session-keeper.ts';
import type { SessionLifecycle } from './session-lifecycle.ts';

export interface ClientAdminParts {
  nodeId: string;
  lifecycle: SessionLifecycle;
  keeper: SessionKeeper;
  cluster: ClusterNode | undefined;
}

/**
 * The operations port over the broker's own parts: `local` answers for this node (and its
 * peers' calls), `admin` for the whole cluster, or for this node when it runs alone.
 */
export function createClientAdmin({ nodeId, lifecycle, keeper, cluster }: ClientAdminParts): { admin: ClientAdmin; local: LocalClients } {
  const local = new LocalClients({
    nodeId,
    connections: lifecycle.connections,
    held: keeper.held,
    discard: (clientId) => lifecycle.discard(clientId),
  });
  if (!cluster) return { admin: local, local };
  const stored = { read: (clientId: string) => keeper.load(clientId), delete: (clientId: string) => keeper.drop(clientId) };
  return { admin: new ClusterClients(local, cluster.ports, stored), local };
}
