// The cluster ports the broker owns; adapters (cluster-grpc, store-redis) implement them.
import type { Message } from '@roost/protocol';

export interface Peer {
  nodeId: string;
  /** host:port of the peer's gRPC server. */
  address: string;
}

/** What a node answers to its peers; the broker implements it. */
export interface ClusterHandlers {
  /**
   * Messages a peer routed here: deliver them locally only (never forward again).
   * Resolves once they are handed to local sessions (persisted where the session is persistent),
   * which is when the sending node may acknowledge its publisher.
   */
  onForward(messages: Message[], fromNode: string): Promise<void>;
  /** Another node wants `clientId`: disconnect it here (v5 0x8E) and release its session. */
  onTakeover(clientId: string, epoch: number): Promise<{ released: boolean }>;
  /** A shared-subscription message for a member on this node; false when no member could take it. */
  onSharedDispatch(group: string, filter: string, message: Message): Promise<boolean>;
}

/** Messages between nodes. */
export interface ClusterTransport {
  /** Starts serving `handlers` on the configured address; returns the bound host:port. */
  start(handlers: ClusterHandlers): Promise<{ address: string }>;
  stop(): Promise<void>;
  /**
   * Sends one message to a peer, batched with others on a long-lived stream per peer.
   * Resolves when the peer acknowledged it; rejects with PeerUnavailableError when the peer
   * cannot be reached within the retry budget or its bounded buffer is full.
   */
  forward(peer: Peer, message: Message): Promise<void>;
  takeover(peer: Peer, clientId: string, epoch: number): Promise<{ released: boolean }>;
  dispatchShared(peer: Peer, group: string, filter: string, message: Message): Promise<boolean>;
  /** Forget a peer (it died or left): fail what waits for it and free its buffer. */
  dropPeer(nodeId: string): void;
}
