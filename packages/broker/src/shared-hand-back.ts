import type { Delivery, Session } from '@roost/session';
import type { ClusterNode } from './cluster-node.ts';
import type { SharedDispatchOptions } from './cluster.ts';
import type { Message } from '@roost/protocol';
import type { Logger } from './options.ts';
import type { SessionKeeper } from './session-keeper.ts';
import type { BrokerStats } from './stats.ts';

/** How a single node offers a message to its own other members (the broker implements it). */
export type LocalSharedDispatch = (group: string, filter: string, message: Message, options?: SharedDispatchOptions) => Promise<boolean>;

export interface HandBackParts {
  keeper: SessionKeeper;
  cluster: ClusterNode | undefined;
  stats: BrokerStats;
  log: Logger;
  dispatchLocal: LocalSharedDispatch;
  /** The directory epoch under which this node holds the client (cluster mode); 0 when none is known. */
  epochOf: (clientId: string) => number;
}

/**
 * A shared-subscription member went offline holding messages it never received: each goes
 * to another member of its group, on any node (MQTT 5 4.8.2 asks this when the session
 * ends; operators expect it as soon as the member leaves). A message is forgotten from the
 * session only after another member's node took it (persisted), so a crash in between can
 * duplicate a message, never lose it. What no other member takes stays queued in the session.
 */
export class SharedHandBack {
  /** Sessions being handed to another node: what they hold goes with them, not to other members. */
  readonly handingOver = new Set<string>();
  /** Hand-backs under way, by client id. */
  private readonly running = new Map<string, Promise<void>>();
  private readonly parts: HandBackParts;

  constructor(parts: HandBackParts) {
    this.parts = parts;
  }

  /** Starts the session's hand-back in the background; `underWay` and `settled` wait for it. */
  start(session: Session): void {
    const { clientId } = session;
    const handing = this.run(session).catch((error: unknown) => this.parts.log.warn({ err: error, clientId }, 'shared hand-back failed; the messages stay queued'));
    const run: Promise<void> = handing.finally(() => {
      if (this.running.get(clientId) === run) this.running.delete(clientId);
    });
    this.running.set(clientId, run);
  }

  /** The client's hand-back under way, if any. */
  underWay(clientId: string): Promise<void> | undefined {
    return this.running.get(clientId);
  }

  /** Every hand-back under way has ended. */
  async settled(): Promise<void> {
    await Promise.all(this.running.values());
  }

  /** Hands back what the session never received, one message at a time. */
  async run(session: Session): Promise<void> {
    const unreceived = session.unreceivedShared();
    if (unreceived.length === 0) return;
    const { keeper, stats, log } = this.parts;
    let taken = 0;
    let stopped = false;
    for (const delivery of unreceived) {
      // The member is back, here or (handing over) elsewhere: it gets the rest itself. Once
      // its session has left this node (a takeover that could not wait for this hand-back
      // saved it with the rest still queued), what is left is that node's to deliver.
      if (session.disconnectedAt === undefined || this.handingOver.has(session.clientId) || keeper.released(session)) {
        stopped = keeper.released(session);
        break;
      }
      try {
        if (!(await this.redispatch(delivery, session.clientId))) continue;
        // Forgotten at once, not after the loop: a takeover that stops waiting for this
        // hand-back saves the session without what other members took so far.
        session.forget(new Set([delivery]));
        keeper.touch(session);
        taken++;
      } catch (error) {
        log.warn({ err: error, clientId: session.clientId }, 'handing a shared message back failed; it stays queued');
      }
    }
    if (stopped) log.info({ clientId: session.clientId, messages: taken }, 'shared hand-back stopped: the session left this node');
    if (taken === 0) return;
    stats.sharedHandedBack += taken;
    if (!stopped) log.info({ clientId: session.clientId, messages: taken }, 'shared messages handed to other members');
  }

  private redispatch(delivery: Delivery, leaving: string): Promise<boolean> {
    const { group, filter } = delivery.shared!;
    const { cluster, dispatchLocal, epochOf } = this.parts;
    // With this node's epoch for the member: a node that took its session on since keeps
    // what it queues (SharedOwners.keep), and this offer cannot give that to another member.
    if (cluster) return cluster.redispatchShared(delivery.shared!, delivery.message, { member: leaving, epoch: epochOf(leaving) });
    return dispatchLocal(group, filter, delivery.message, { exclude: leaving });
  }
}
