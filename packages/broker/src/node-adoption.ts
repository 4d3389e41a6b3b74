import { ReasonCode } from '@roost/protocol';
import type { Session } from '@roost/session';
import type { ClaimEpochs } from './claim-epochs.ts';
import type { ClientTurns } from './client-turns.ts';
import type { ClusterNode } from './cluster-node.ts';
import type { Connection } from './connection.ts';
import type { MovedSessions } from './moved-sessions.ts';
import type { Logger } from './options.ts';
import type { Router } from './router.ts';
import type { SessionKeeper } from './session-keeper.ts';
import type { SessionRoutes } from './session-routes.ts';
import { dropClaimedElsewhere } from './shared-claims.ts';
import type { SharedHandBack } from './shared-hand-back.ts';
import type { WillKeeper } from './will-keeper.ts';

/** What adopting and rejoining share with the session lifecycle. */
export interface AdoptionParts {
  nodeId: string;
  cluster: ClusterNode;
  keeper: SessionKeeper;
  router: Router;
  routes: SessionRoutes;
  epochs: ClaimEpochs;
  moved: MovedSessions;
  turns: ClientTurns;
  connections: ReadonlyMap<string, Connection>;
  wills: WillKeeper;
  handBack: SharedHandBack;
  log: Logger;
  /** Starts the session's expiry timer, counted from its disconnection. */
  expireLater(session: Session): void;
  cancelExpiry(clientId: string): void;
}

/**
 * The node-level side of where sessions live: taking on a dead (or departed) node's sessions
 * after winning its reap, and checking this node's own claims after its heartbeat lapsed.
 */
export class NodeAdoption {
  private readonly parts: AdoptionParts;

  constructor(parts: AdoptionParts) {
    this.parts = parts;
  }

  /**
   * This node won the reap of a dead (or departed) node: it holds the node's persistent
   * sessions offline, their expiry and wills counted from their disconnection, and routes
   * them here. A client that reconnected elsewhere meanwhile keeps its session there.
   */
  async adoptNode(deadNodeId: string): Promise<void> {
    const { cluster, turns } = this.parts;
    for (const clientId of await cluster.ports.directory.heldBy(deadNodeId)) {
      await turns.run(clientId, () => this.adoptSession(deadNodeId, clientId), (error) => {
        throw error; // the reap fails and is retried once its claim expires
      });
    }
  }

  private async adoptSession(deadNodeId: string, clientId: string): Promise<void> {
    const { cluster, keeper, epochs, handBack } = this.parts;
    const { directory, wills } = cluster.ports;
    const epoch = await directory.claimFrom(clientId, this.parts.nodeId, deadNodeId);
    if (epoch === undefined) return;
    epochs.set(clientId, epoch);
    this.parts.moved.forget(clientId);
    // Read, not taken: if this node goes too before the will is due, the next reaper finds it
    // (publishing it deletes it; a reconnect overwrites or deletes it).
    const [session, will] = await Promise.all([keeper.load(clientId), wills.get(clientId)]);
    if (session) await dropClaimedElsewhere(session, cluster.ports.sharedOwners, epoch);
    const now = Date.now();
    if (session) session.disconnectedAt ??= now;
    if (session && session.expiryInterval > 0) {
      // Held before it is routed here, so what the new routes bring finds it.
      keeper.held.set(clientId, session);
      keeper.touch(session);
      await this.parts.routes.register(session, undefined, false);
      this.parts.expireLater(session);
      handBack.start(session); // not in this client's turn: a takeover waits on the turn
    } else {
      // A clean session ended with its connection; what it held for shared groups goes to
      // other members, then its record goes too (else a later CONNECT would resume it).
      if (session) {
        await handBack.run(session);
        await keeper.drop(clientId);
      }
      await directory.release(clientId, epoch);
      epochs.delete(clientId);
    }
    if (!will) return;
    const dueInSeconds = Math.min(will.delaySeconds, session?.expiryInterval ?? 0) - (now - (session?.disconnectedAt ?? now)) / 1000;
    this.parts.wills.schedule(clientId, { ...will, expirySeconds: will.expirySeconds }, Math.max(0, dueInSeconds));
  }

  /**
   * This node's heartbeat lapsed: peers may have reaped it and adopted its sessions, or Redis
   * lost its data. Sessions another node now holds are let go (their clients disconnected);
   * the rest are claimed again if the claim vanished, and their state, wills and routes are
   * written again.
   */
  async rejoin(): Promise<void> {
    const { cluster, keeper, router, epochs, connections } = this.parts;
    const { directory, wills } = cluster.ports;
    for (const [clientId, epoch] of [...epochs]) {
      if (await directory.holds(clientId, epoch)) continue;
      if ((await directory.holder(clientId)) === undefined) {
        epochs.set(clientId, (await directory.claim(clientId, this.parts.nodeId)).epoch);
        continue;
      }
      this.parts.log.warn({ clientId }, 'session adopted by another node while this one was out of touch');
      connections.get(clientId)?.disconnect(ReasonCode.SessionTakenOver, 'the session moved to another node');
      this.parts.wills.cancel(clientId);
      this.parts.cancelExpiry(clientId);
      const session = keeper.release(clientId);
      for (const filter of session?.subscriptions.keys() ?? []) router.remove(clientId, filter);
      epochs.delete(clientId);
    }
    const filters = new Set<string>();
    for (const session of keeper.held.values()) {
      keeper.touch(session);
      for (const filter of session.subscriptions.keys()) filters.add(filter);
    }
    for (const [clientId, connection] of connections) {
      const will = connection.channel.will;
      if (will) await wills.set(clientId, will);
    }
    await Promise.all([cluster.reassertRoutes(filters), keeper.flushed()]);
  }
}
