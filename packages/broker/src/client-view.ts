// What operators may ask of a broker about its clients (the node's /api/v1): the broker owns
// the port, the node's HTTP router and the cluster transport only carry it.
import type { ProtocolVersion, QoS } from '@roost/protocol';
import type { Session } from '@roost/session';
import type { Connection } from './connection.ts';
import { formatRemote } from './connection-info.ts';

export interface SubscriptionView {
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
}

/** One client's session and, while it is connected, its connection. */
export interface ClientView {
  clientId: string;
  /** The node holding the session; undefined for a session in the store that no node holds. */
  node: string | undefined;
  connected: boolean;
  /** The connection's fields, while connected. */
  listener?: string;
  /** `host:port` the client connected from (a PROXY header's when there was one). */
  address?: string;
  protocolVersion?: ProtocolVersion;
  username?: string;
  /** Effective keep alive, seconds (the server's when it imposed one); 0: none. */
  keepAlive?: number;
  /** Epoch ms the connection opened. */
  connectedAt?: number;
  /** Session Expiry Interval, seconds; 0xffffffff never expires. */
  sessionExpiry: number;
  /** Epoch ms of the last disconnection, while offline. */
  disconnectedAt?: number;
  /** QoS 1/2 messages waiting to be sent. */
  queueLength: number;
  /** QoS 1/2 messages sent and not yet acknowledged. */
  inflight: number;
  /** Present when asked for (a single client's description, not a list page). */
  subscriptions?: SubscriptionView[];
}

/** A listed session whose holder did not describe it: dead (`nodeAlive` false) or not answering. */
export interface UndescribedClient {
  clientId: string;
  node: string;
  nodeAlive: boolean;
}

/** A place in a client listing: sessions are listed by holder node id, then client id (bytewise). */
export interface ListPosition {
  /** Empty on a single node, which lists by client id alone. */
  nodeId: string;
  clientId: string;
}

export interface ClientQuery {
  limit: number;
  /** Start after this position (a previous page's `next`). */
  after?: ListPosition;
  prefix?: string;
  /** Only connected clients that logged in with this user name (the store keeps no user names). */
  username?: string;
}

export interface ClientPage {
  clients: Array<ClientView | UndescribedClient>;
  /** Where the next page starts; undefined when this page is the last. */
  next?: ListPosition;
}

export interface NodeView {
  nodeId: string;
  /** The node's cluster (gRPC) address; undefined on a single node. */
  address: string | undefined;
  alive: boolean;
  /** The node answering. */
  self: boolean;
  /** This node's own view, given for `self` only. */
  connections?: number;
  sessions?: number;
}

export interface KickOutcome {
  /** A session or a connection of that client id existed. */
  found: boolean;
  node?: string;
  /** Its connection was closed (v5: DISCONNECT 0x98 Administrative action first). */
  disconnected: boolean;
  sessionDiscarded: boolean;
}

/** The operations port: what the admin API asks, answered for the whole cluster. */
export interface ClientAdmin {
  nodes(): Promise<NodeView[]>;
  clients(query: ClientQuery): Promise<ClientPage>;
  /** Undefined for an unknown client id. */
  client(clientId: string): Promise<ClientView | undefined>;
  /** Disconnects the client wherever it is connected; with `discardSession` its session ends too (routes, will, store). */
  kick(clientId: string, discardSession: boolean): Promise<KickOutcome>;
}

/** The session's holder is known but not alive, so its session cannot be discarded until a survivor adopts it. */
export class HolderUnavailableError extends Error {
  override readonly name = 'HolderUnavailableError';
  readonly nodeId: string;
  constructor(nodeId: string, message: string) {
    super(`${nodeId}: ${message}`);
    this.nodeId = nodeId;
  }
}

/** The view of a session, with its connection's fields while `connection` is set. */
export function viewOf(node: string | undefined, session: Session, connection: Connection | undefined, withSubscriptions: boolean): ClientView {
  const view: ClientView = {
    clientId: session.clientId,
    node,
    connected: connection !== undefined,
    sessionExpiry: session.expiryInterval,
    queueLength: session.queue.length,
    inflight: session.inflight.size,
  };
  if (connection) {
    const { info, channel } = connection;
    view.listener = info.listener;
    view.address = formatRemote(info.remoteAddress, info.remotePort);
    view.protocolVersion = channel.version;
    if (channel.username !== undefined) view.username = channel.username;
    view.keepAlive = channel.keepAlive;
    view.connectedAt = connection.openedAt;
  } else if (session.disconnectedAt !== undefined) {
    view.disconnectedAt = session.disconnectedAt;
  }
  if (withSubscriptions) {
    view.subscriptions = [...session.subscriptions].map(([filter, options]) => ({ filter, ...options }));
  }
  return view;
}
