import type { Packet } from 'mqtt-packet';
import type { Message, ReasonCode, SubscriptionOptions } from '@roost/protocol';
import type { Credentials } from './authenticator.ts';
import type { LimitName } from './stats.ts';

/** What CONNECT asks the broker to do with sessions before the CONNACK can be sent. */
export interface AttachRequest {
  clientId: string;
  cleanStart: boolean;
  /** Seconds, already capped to the configured maximum. */
  sessionExpiry: number;
}

/** What a denial refused: a PUBLISH, a SUBSCRIBE's filter, or a delivery to the client. */
export type DeniedAccess = 'publish' | 'subscribe' | 'receive';

/**
 * The channel's output: it never touches a socket or a store itself. The connection
 * executes these in order.
 */
export type Action =
  /** Write a packet; `data` is its encoding when the channel already had to measure it. */
  | { type: 'send'; packet: Packet; data?: Buffer }
  /**
   * Close the network connection; on v5 after a DISCONNECT carrying `reasonCode` when `notify`.
   * `byClient`: the client asked for it (DISCONNECT), for the log of who closed.
   */
  | { type: 'close'; reasonCode: ReasonCode; reason: string; notify: boolean; byClient?: boolean }
  /** CONNECT's credentials, for the broker's Authenticator; its decision goes to `Channel.authenticated`. */
  | { type: 'authenticate'; credentials: Omit<Credentials, 'info'> }
  /** The client's next AUTH 0x18 of the exchange under way; its decision goes to `Channel.authenticated` too. */
  | { type: 'continue-authentication'; data: Buffer | undefined }
  | { type: 'attach'; request: AttachRequest }
  /** The client reached a configured limit: counted by the broker. */
  | { type: 'limit'; limit: LimitName }
  /** The client's rules refused it: counted and logged by the broker. */
  | { type: 'denied'; access: DeniedAccess; topic: string }
  /** `qos2PacketId`: a QoS 2 PUBLISH's packet id, recorded with the message's id before it is routed. */
  | { type: 'publish'; message: Message; qos2PacketId?: number }
  /** Registers a filter; the SUBACK waits for it, so what is published after the SUBACK reaches it. */
  | { type: 'subscribe'; filter: string; options: SubscriptionOptions }
  /** Sends the retained messages matching a filter just subscribed, after its SUBACK. */
  | { type: 'send-retained'; filter: string; options: SubscriptionOptions }
  | { type: 'unsubscribe'; filter: string }
  /** The actions after this one wait until the session's changes so far are durable. */
  | { type: 'persist' };
