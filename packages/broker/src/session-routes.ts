import type { Session } from '@roost/session';
import type { ClusterNode } from './cluster-node.ts';
import type { Connection } from './connection.ts';
import type { Router } from './router.ts';
import type { SessionKeeper } from './session-keeper.ts';
import type { TakeOns } from './take-ons.ts';

/** A session's subscriptions as routes: in this node's router and, for a filter new to the node, on every node. */
export class SessionRoutes {
  private readonly router: Router;
  private readonly cluster: ClusterNode | undefined;
  private readonly keeper: SessionKeeper;
  private readonly connections: ReadonlyMap<string, Connection>;
  private readonly takeOns: TakeOns;

  constructor(router: Router, cluster: ClusterNode | undefined, keeper: SessionKeeper, connections: ReadonlyMap<string, Connection>, takeOns: TakeOns) {
    this.router = router;
    this.cluster = cluster;
    this.keeper = keeper;
    this.connections = connections;
    this.takeOns = takeOns;
  }

  /**
   * A session resumed from the store: its subscriptions route to this node from now on,
   * on every live node before this resolves unless `sync` is false (adoption: messages for
   * a dead node's sessions wait for its reap, which comes after these routes). Returns the
   * filters registered; those in `already` were registered before. The session is counted
   * as taken on (TakeOns) in the turn its routes go into the router: a later count than its
   * first registration (a takeover registers twice) can only bring it a rerouted copy it
   * had, never keep from it one it had not.
   */
  async register(session: Session, already?: ReadonlySet<string>, sync = true): Promise<Set<string>> {
    session.takenOn = this.takeOns.next();
    const registered = new Set<string>();
    const firsts: string[] = [];
    for (const [filter, options] of session.subscriptions) {
      registered.add(filter);
      if (already?.has(filter)) {
        this.router.add(session.clientId, filter, options); // options may have changed
        continue;
      }
      if (this.router.add(session.clientId, filter, options)) firsts.push(filter);
    }
    if (this.cluster && firsts.length > 0) {
      if (sync) await this.cluster.routesAdded(firsts);
      else await this.cluster.reassertRoutes(firsts);
    }
    return registered;
  }

  /** Filters routed for a session read before its takeover that the handed-over session no longer has. */
  async dropStale(clientId: string, routed: ReadonlySet<string>, session: Session | undefined): Promise<void> {
    const gone = [...routed].filter((filter) => !session?.subscriptions.has(filter));
    await Promise.all(gone.map((filter) => this.remove(clientId, filter)));
  }

  /** The client no longer has `filter`; the last route of it here leaves every node. */
  async remove(clientId: string, filter: string): Promise<void> {
    const last = this.router.remove(clientId, filter);
    const session = this.connections.get(clientId)?.channel.session;
    if (session) this.keeper.touch(session);
    if (last && this.cluster) await this.cluster.routeRemoved(filter);
  }
}
