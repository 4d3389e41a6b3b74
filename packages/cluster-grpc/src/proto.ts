// Loads cluster.v1.proto once and types what proto-loader makes of it, so the rest of the
// package talks to grpc-js through typed method definitions instead of dynamic clients.
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';

export const PROTO_PATH = fileURLToPath(new URL('../proto/cluster.v1.proto', import.meta.url));

/*
 * The loader options fix the shapes below: camelCase fields, 64-bit integers as numbers (epoch
 * ms and sequence numbers stay far below 2^53), bytes as Buffers, scalars defaulted, and
 * `optional` fields left undefined when absent (they are synthetic oneofs, which defaults
 * skip), so absence survives the wire.
 */
const LOADER_OPTIONS = { keepCase: false, longs: Number, bytes: Buffer, defaults: true, oneofs: true } as const;

export interface WireUserProperty {
  key: string;
  value: string;
}

export interface WireProperties {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties: WireUserProperty[];
}

export interface WireMessage {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  /** null when decoded without properties (a message field's default). */
  properties?: WireProperties | null;
  expiresAt?: number;
  origin?: string;
  id?: string;
  reroutedSince?: number;
  takenOnAfter?: number;
}

export interface WireBatch {
  seq: number;
  fromNode: string;
  messages: WireMessage[];
  /** Epoch ms; 0 from a sender that predates the field. */
  routedAt: number;
}

export interface WireAck {
  seq: number;
  failed: boolean;
  error: string;
  /** Empty (or absent, from an older receiver): none. */
  routeAgain?: number[];
  /** Absent from a receiver that predates the field. */
  takeOns?: number;
}

export interface WireTakeoverRequest {
  clientId: string;
  epoch: number;
}

export interface WireTakeoverReply {
  released: boolean;
  /** False from a node that predates the field. */
  superseded: boolean;
}

export interface WireSharedRequest {
  group: string;
  filter: string;
  message: WireMessage | null;
  onlineOnly?: boolean;
  member?: string;
  leaving?: string;
  leavingEpoch?: number;
}

export interface WireSharedReply {
  delivered: boolean;
}

export interface WireRouteVersion {
  version: number;
  timeoutMs: number;
}

export interface WireRouteVersionReply {
  applied: boolean;
}

export interface WireDescribeClientsRequest {
  clientIds: string[];
  withSubscriptions: boolean;
}

export interface WireClientSubscription {
  filter: string;
  qos: number;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: number;
  subscriptionId?: number;
}

export interface WireClientDescription {
  clientId: string;
  connected: boolean;
  listener?: string;
  address?: string;
  protocolVersion?: number;
  username?: string;
  keepAlive?: number;
  connectedAt?: number;
  sessionExpiry: number;
  disconnectedAt?: number;
  queueLength: number;
  inflight: number;
  subscriptions: WireClientSubscription[];
}

export interface WireDescribeClientsReply {
  clients: WireClientDescription[];
}

export interface WireKickRequest {
  clientId: string;
  discardSession: boolean;
}

export interface WireKickReply {
  found: boolean;
  disconnected: boolean;
  sessionDiscarded: boolean;
}

export interface ClusterService extends ServiceDefinition {
  Forward: MethodDefinition<WireBatch, WireAck>;
  Takeover: MethodDefinition<WireTakeoverRequest, WireTakeoverReply>;
  DispatchShared: MethodDefinition<WireSharedRequest, WireSharedReply>;
  AwaitRoutes: MethodDefinition<WireRouteVersion, WireRouteVersionReply>;
  DescribeClients: MethodDefinition<WireDescribeClientsRequest, WireDescribeClientsReply>;
  KickClient: MethodDefinition<WireKickRequest, WireKickReply>;
}

function loadClusterService(): ClusterService {
  const definition = loadSync(PROTO_PATH, LOADER_OPTIONS);
  // proto-loader's definitions are structurally grpc-js ones; the message shapes are ours to state.
  return definition['roost.cluster.v1.Cluster'] as unknown as ClusterService;
}

export const clusterService: ClusterService = loadClusterService();
