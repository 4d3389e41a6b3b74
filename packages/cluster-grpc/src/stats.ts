// Counters of the transport, read by the node to export metrics. Plain numbers, no labels:
// a per-peer label would be as many series as nodes ever seen.
export interface TransportStats {
  /** Messages a peer acknowledged. */
  forwardedMessages: number;
  /** Batches a peer acknowledged. */
  forwardedBatches: number;
  /** Messages failed on this side: buffer full, retry budget spent, peer dropped, transport stopped. */
  droppedMessages: number;
  /** Messages a peer answered with a failed ack (its handler rejected them). */
  rejectedMessages: number;
  /** Forward streams reopened after a loss. */
  retries: number;
}

export function emptyStats(): TransportStats {
  return { forwardedMessages: 0, forwardedBatches: 0, droppedMessages: 0, rejectedMessages: 0, retries: 0 };
}
