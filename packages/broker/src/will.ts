import type { Message } from '@roost/protocol';

/**
 * The Will Message of a connection and its delay (MQTT 5 3.1.3.2): one type for the channel,
 * the will keeper and the cluster's will store.
 */
export interface Will {
  message: Message;
  delaySeconds: number;
  /** The Message Expiry Interval, counted from the will's publication, not from CONNECT. */
  expirySeconds?: number | undefined;
}
