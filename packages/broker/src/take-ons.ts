/**
 * Counts the sessions this node has taken on: each gets the next count when its routes first
 * go into this node's router (SessionRoutes.register), in the same turn, so a message routed
 * here while the count was N reached exactly the sessions counted up to N. A copy routed again
 * after a node died carries the count its first copy was routed under (Message.takenOnAfter),
 * and goes only to sessions counted after it: those that could not have had the first copy.
 * A count, not a time, so nothing rests on two nodes' clocks or on two events in one ms.
 */
export class TakeOns {
  /** How many sessions have been taken on so far. */
  count = 0;

  /** The count for a session taken on now. */
  next(): number {
    return ++this.count;
  }
}
