import type { Delivery, Session } from '@roost/session';
import type { SharedOwners } from './cluster.ts';

/**
 * A shared member's session read from the store (its node died, or handed it over) may still
 * queue QoS 2 messages its hand-back gave to other members: the node takes a message out of
 * the session only after another member's node has it, and a crash between the two leaves it
 * in the stored session; and a takeover that could not wait for a hand-back under way saves
 * the session with the message it was offering. The claim of each such message (SharedOwners)
 * names the member that took it; those claimed by another member leave the session here, so
 * no two members get one message (MQTT 5 4.8.2), and the others are kept for this member under
 * `epoch` (this node's directory epoch for it), so an offer the old holder still makes cannot
 * give them away. A claim that cannot be read or kept keeps its message: a duplicate at worst,
 * never a loss. Returns how many left.
 */
export async function dropClaimedElsewhere(session: Session, owners: SharedOwners, epoch: number): Promise<number> {
  const candidates: Delivery[] = [];
  for (const delivery of session.queue) {
    if (delivery.shared && delivery.qos === 2 && delivery.message.id !== undefined) candidates.push(delivery);
  }
  if (candidates.length === 0) return 0;
  const holder = { member: session.clientId, epoch };
  const claimed = await Promise.all(candidates.map((delivery) => owners.keep(delivery.shared!.group, delivery.message.id!, holder).catch(() => undefined)));
  const elsewhere = new Set(candidates.filter((_, i) => claimed[i] !== undefined && claimed[i] !== session.clientId));
  if (elsewhere.size > 0) session.forget(elsewhere);
  return elsewhere.size;
}
