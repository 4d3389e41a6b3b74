// Counters of the transport, read by the node to export metrics. Plain numbers, no labels:
// a per-peer label would be as many series as nodes ever seen.
import { Distribution } from '@roost/broker';

/** Seconds from a batch's write to its ack: loopback is ~0.2 ms, a zone ~1 ms, a peer in trouble seconds. */
const LATENCY_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Messages per batch, up to the 512 a batch may hold. */
const BATCH_BOUNDS = [1, 2, 5, 10, 20, 50, 100, 200, 512];
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
  /** Seconds from writing a batch to its ack, per acknowledged batch. */
  readonly forwardLatency: Distribution;
  /** Messages per batch written (a resend is not counted again). */
  readonly batchSize: Distribution;
}

export function emptyStats(): TransportStats {
  return {
    forwardedMessages: 0,
    forwardedBatches: 0,
    droppedMessages: 0,
    rejectedMessages: 0,
    retries: 0,
    forwardLatency: new Distribution(LATENCY_BOUNDS),
    batchSize: new Distribution(BATCH_BOUNDS),
  };
}
