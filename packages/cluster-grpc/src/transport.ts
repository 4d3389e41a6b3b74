// The ClusterTransport the broker asks for: a server for what peers send here, and a PeerLink
// per peer for what goes there.
import type { Client, MethodDefinition } from '@grpc/grpc-js';
import type { ClientView, ClusterHandlers, ClusterTransport, KickOutcome, Logger, Peer, SharedDispatchOptions, TakeoverAnswer, Taken } from '@roost/broker';
import { ConfigError, PeerUnavailableError, type Message } from '@roost/protocol';
import { decodeClient } from './client-codec.ts';
import { encodeMessage } from './codec.ts';
import { PeerLink, type PeerLinkOptions } from './peer-link.ts';
import { clusterService } from './proto.ts';
import { ClusterServer, joinHostPort } from './server.ts';
import { emptyStats, type TransportStats } from './stats.ts';

export interface GrpcClusterTransportOptions {
  /** This node's id, sent with every batch so the receiver knows where it came from. */
  nodeId: string;
  /** Interface to listen on for peers. */
  host: string;
  /** 0 picks a free port; start() returns the one bound. */
  port: number;
  /** The host:port peers should use, when it is not the bound one (0.0.0.0, NAT, a pod IP). */
  advertise?: string;
  /** Per peer: messages queued or unacknowledged before forward() rejects. Default 10000. */
  maxBufferedMessages?: number;
  /** Per peer: how long failed sends are retried before their messages fail. Default 5000. */
  retryTimeoutMs?: number;
  /** Deadline of Takeover and DispatchShared calls. Default 3000. */
  callTimeoutMs?: number;
  /** How long stop() lets peers' batches in progress be acked. Default 2000. */
  drainTimeoutMs?: number;
  /** Default 512. */
  maxBatchMessages?: number;
  /** Default 1 MiB; a larger message travels alone. */
  maxBatchBytes?: number;
  /** Unacknowledged batches per peer. Default 8. */
  maxInFlightBatches?: number;
  log?: Logger;
}

const DEFAULTS = {
  maxBufferedMessages: 10_000,
  retryTimeoutMs: 5_000,
  callTimeoutMs: 3_000,
  drainTimeoutMs: 2_000,
  maxBatchMessages: 512,
  maxBatchBytes: 1024 * 1024,
  maxInFlightBatches: 8,
};

type Limits = typeof DEFAULTS;

export class GrpcClusterTransport implements ClusterTransport {
  /** Live counters, for the node's metrics. */
  readonly stats: TransportStats = emptyStats();
  private readonly options: GrpcClusterTransportOptions;
  private readonly limits: Limits;
  private readonly log: Logger;
  private readonly links = new Map<string, PeerLink>();
  private server: ClusterServer | undefined;
  private stopped = false;

  constructor(options: GrpcClusterTransportOptions) {
    this.options = options;
    this.limits = resolveLimits(options);
    this.log = (options.log ?? silentLogger).child({ component: 'cluster-grpc' });
  }

  async start(handlers: ClusterHandlers): Promise<{ address: string }> {
    if (this.server) throw new Error('cluster transport already started');
    const server = new ClusterServer(handlers, this.log);
    const port = await server.listen(this.options.host, this.options.port);
    this.server = server;
    const address = this.options.advertise ?? joinHostPort(this.options.host, port);
    this.log.info({ address, port }, 'cluster transport listening');
    return { address };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const link of this.links.values()) link.close('transport stopped');
    this.links.clear();
    const server = this.server;
    this.server = undefined;
    await server?.close(this.limits.drainTimeoutMs);
  }

  forward(peer: Peer, message: Message): Promise<Taken> {
    return this.link(peer).forward(message);
  }

  post(peer: Peer, message: Message): void {
    this.link(peer).post(message);
  }

  async takeover(peer: Peer, clientId: string, epoch: number): Promise<TakeoverAnswer> {
    const reply = await this.call(peer, clusterService.Takeover, { clientId, epoch });
    return { released: reply.released, superseded: reply.superseded };
  }

  async dispatchShared(peer: Peer, group: string, filter: string, message: Message, options: SharedDispatchOptions = {}): Promise<boolean> {
    const request = { group, filter, message: encodeMessage(message), onlineOnly: options.onlineOnly === true, member: options.member ?? '', leaving: options.exclude ?? '', leavingEpoch: options.excludeEpoch ?? 0 };
    const reply = await this.call(peer, clusterService.DispatchShared, request);
    return reply.delivered;
  }

  async awaitRoutes(peer: Peer, version: number, timeoutMs: number): Promise<boolean> {
    // The peer answers within timeoutMs itself; the deadline only covers the way there and back.
    const reply = await this.call(peer, clusterService.AwaitRoutes, { version, timeoutMs }, timeoutMs + this.limits.callTimeoutMs);
    return reply.applied;
  }

  async describeClients(peer: Peer, clientIds: string[], withSubscriptions: boolean): Promise<ClientView[]> {
    const reply = await this.call(peer, clusterService.DescribeClients, { clientIds, withSubscriptions });
    return reply.clients.map((wire) => decodeClient(wire, withSubscriptions));
  }

  async kick(peer: Peer, clientId: string, discardSession: boolean): Promise<KickOutcome> {
    const { found, disconnected, sessionDiscarded } = await this.call(peer, clusterService.KickClient, { clientId, discardSession });
    return { found, disconnected, sessionDiscarded };
  }

  congestion(nodeIds: Iterable<string>): Promise<void> | undefined {
    let congested: Promise<void>[] | undefined;
    for (const nodeId of nodeIds) {
      const link = this.links.get(nodeId);
      if (link?.congested) (congested ??= []).push(link.drained());
    }
    return congested && Promise.all(congested).then(() => undefined);
  }

  dropPeer(nodeId: string): void {
    this.links.get(nodeId)?.close('peer dropped');
    this.links.delete(nodeId);
  }

  private link(peer: Peer): PeerLink {
    const existing = this.links.get(peer.nodeId);
    if (existing) {
      existing.moveTo(peer.address);
      return existing;
    }
    const options: PeerLinkOptions = { ...this.limits, selfNodeId: this.options.nodeId, log: this.log, stats: this.stats };
    const link = new PeerLink(peer.nodeId, peer.address, options);
    // After stop() a late forward (a reroute still waiting) is refused: an open channel to a
    // peer would keep the leaving process up for good.
    if (this.stopped) link.close('transport stopped');
    else this.links.set(peer.nodeId, link);
    return link;
  }

  /** A unary call on the peer's channel, bounded by callTimeoutMs; any failure is the peer's. */
  private call<Request, Reply>(peer: Peer, method: MethodDefinition<Request, Reply>, request: Request, timeoutMs = this.limits.callTimeoutMs): Promise<Reply> {
    const client: Client = this.link(peer).client;
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, { deadline }, (error, reply) => {
        if (!error && reply) return resolve(reply);
        const failure = new PeerUnavailableError(peer.nodeId, `${method.path}: ${error?.details ?? 'no reply'}`);
        failure.cause = error;
        reject(failure);
      });
    });
  }
}

function resolveLimits(options: GrpcClusterTransportOptions): Limits {
  const limits = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as Array<keyof Limits>) {
    const value = options[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value <= 0) throw new ConfigError(key, `must be a positive integer, got ${value}`);
    limits[key] = value;
  }
  return limits;
}

const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
