import type { ProtocolVersion, ReasonCode } from '@roost/protocol';
import type { Session } from '@roost/session';
import type { Action, AttachRequest } from './actions.ts';
import type { ClientPermissions } from './authorizer.ts';
import type { BrokerLimits } from './options.ts';
import type { OutboundTopicAliases } from './topic-aliases.ts';
import type { Will } from './will.ts';

// The state the packet handlers share with the channel, in a module of its own: the channel
// imports the handlers, so the handlers must not import the channel (check:deps refuses the cycle).

export interface ChannelContext {
  limits: BrokerLimits;
  now(): number;
  /** A fresh client identifier for a client that sent an empty one. */
  assignClientId(): string;
}

export type { Will } from './will.ts';

/** `authenticating`: CONNECT's enhanced authentication waits for the client's next AUTH (MQTT 5 4.12). */
export type ChannelState = 'awaiting-connect' | 'connecting' | 'authenticating' | 'connected' | 'closed';

/** MQTT 5 enhanced authentication on one connection: the protocol's part; the method's own state is its provider's. */
export interface EnhancedAuth {
  /** The CONNECT's Authentication Method, which every AUTH must repeat [MQTT-4.12.0-5]. */
  readonly method: string;
  /** When the exchange under way began (ctx.now()), for the CONNECT timeout; undefined between exchanges. */
  since: number | undefined;
  /** A re-authentication under way: whose AUTH comes next. */
  reauth: 'server' | 'client' | undefined;
  /** The accepting decision's Authentication Data, for the CONNACK. */
  connackData: Buffer | undefined;
}

/**
 * Whether the node takes this connection: `connection-limit` (ROOST_MAX_CONNECTIONS) and
 * `connect-rate` (ROOST_MAX_CONNECT_RATE, per address) refuse its CONNECT.
 */
export type Admission = 'admitted' | 'connection-limit' | 'connect-rate';

/** What a handler reads and changes of one connection's protocol state; the Channel implements it. */
export interface HandlerState {
  readonly ctx: ChannelContext;
  state: ChannelState;
  version: ProtocolVersion;
  clientId: string;
  /** From CONNECT, for the logs and for authentication; the password is never kept. */
  username: string | undefined;
  /** Anything but `admitted`: CONNECT is refused, with the reason this says. */
  readonly admission: Admission;
  assignedClientId: string | undefined;
  /** What the client may publish, subscribe and receive; set once CONNECT is accepted, again at each re-authentication. */
  permissions: ClientPermissions | undefined;
  /** Set when CONNECT named an Authentication Method. */
  enhancedAuth: EnhancedAuth | undefined;
  /** The session CONNECT asks for, resolved once the client is authenticated. */
  attachRequest: AttachRequest | undefined;
  session: Session | undefined;
  will: Will | undefined;
  keepAlive: number;
  /** v5: the keep alive CONNACK tells the client to use instead of its own [MQTT-3.2.2-21]. */
  serverKeepAlive: number | undefined;
  requestedSessionExpiry: number;
  grantedSessionExpiry: number;
  clientReceiveMaximum: number;
  clientMaximumPacketSize: number | undefined;
  outboundAliases: OutboundTopicAliases | undefined;
  inboundAliases: Map<number, string> | undefined;
  problemInformation: boolean;
  /** Moves queued deliveries into the window as acknowledgements free it. */
  drain(actions?: Action[]): Action[];
  /** Closes the connection for the client's fault: DISCONNECT with the reason first on v5. */
  fail(reasonCode: ReasonCode, reason: string): Action[];
}
