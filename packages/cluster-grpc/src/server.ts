// The receiving side: serves cluster.v1 to peers and hands what arrives to the broker's
// ClusterHandlers. A handler's failure becomes a failed ack or an error status, never a throw.
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import type { ClusterHandlers, Logger } from '@roost/broker';
import { encodeClient } from './client-codec.ts';
import { decodeMessage, WireFormatError } from './codec.ts';
import {
  clusterService,
  type WireAck,
  type WireDescribeClientsReply,
  type WireDescribeClientsRequest,
  type WireKickReply,
  type WireKickRequest,
  type WireBatch,
  type WireRouteVersion,
  type WireRouteVersionReply,
  type WireSharedReply,
  type WireSharedRequest,
  type WireTakeoverReply,
  type WireTakeoverRequest,
} from './proto.ts';

/*
 * Room for one message of the largest MQTT packet (a Remaining Length of 268,435,455 bytes,
 * MQTT v5 2.1.4) in a batch of its own; senders cap batches at far less, so only such a
 * message comes near it.
 */
const MAX_RECEIVE_BYTES = 257 * 1024 * 1024;

const SERVER_OPTIONS = {
  'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
  // Finds senders that vanished without closing, so their streams do not linger.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
};

/** One Forward stream from a peer: acks are chained so they leave in batch order. */
interface ForwardCall {
  acked: Promise<void>;
  /** No more batches are taken; the stream ends once those taken are acked. */
  ending: boolean;
}

export class ClusterServer {
  private readonly server = new Server(SERVER_OPTIONS);
  private readonly handlers: ClusterHandlers;
  private readonly log: Logger;
  private readonly calls = new Map<ServerDuplexStream<WireBatch, WireAck>, ForwardCall>();
  private closing = false;

  constructor(handlers: ClusterHandlers, log: Logger) {
    this.handlers = handlers;
    this.log = log;
    this.server.addService(clusterService, {
      Forward: (call: ServerDuplexStream<WireBatch, WireAck>) => this.forward(call),
      Takeover: (call: ServerUnaryCall<WireTakeoverRequest, WireTakeoverReply>, reply: sendUnaryData<WireTakeoverReply>) =>
        this.answer('Takeover', reply, () => this.takeover(call.request)),
      DispatchShared: (call: ServerUnaryCall<WireSharedRequest, WireSharedReply>, reply: sendUnaryData<WireSharedReply>) =>
        this.answer('DispatchShared', reply, () => this.dispatchShared(call.request)),
      AwaitRoutes: (call: ServerUnaryCall<WireRouteVersion, WireRouteVersionReply>, reply: sendUnaryData<WireRouteVersionReply>) =>
        this.answer('AwaitRoutes', reply, async () => ({ applied: await handlers.onAwaitRoutes(call.request.version, call.request.timeoutMs) })),
      DescribeClients: (call: ServerUnaryCall<WireDescribeClientsRequest, WireDescribeClientsReply>, reply: sendUnaryData<WireDescribeClientsReply>) =>
        this.answer('DescribeClients', reply, () => this.describeClients(call.request)),
      KickClient: (call: ServerUnaryCall<WireKickRequest, WireKickReply>, reply: sendUnaryData<WireKickReply>) =>
        this.answer('KickClient', reply, () => this.kick(call.request)),
    });
  }

  /** Binds `host:port` (0: any free port) and returns the port bound. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(joinHostPort(host, port), ServerCredentials.createInsecure(), (error, bound) => {
        if (error) reject(error);
        else resolve(bound);
      });
    });
  }

  /**
   * Stops taking calls, lets batches already handed to the broker be acked, then ends the
   * Forward streams (their senders resend the rest elsewhere, or here after a restart).
   * Whatever still runs after `drainTimeoutMs` is cut off.
   */
  async close(drainTimeoutMs: number): Promise<void> {
    this.closing = true;
    const shutdown = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    for (const [call, state] of this.calls) {
      state.ending = true;
      void state.acked.then(() => call.end());
    }
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), drainTimeoutMs);
    });
    const timedOut = await Promise.race([shutdown.then(() => false), expired]);
    clearTimeout(timer);
    if (timedOut) {
      this.log.warn({ drainTimeoutMs }, 'cluster server drain timed out; closing peer streams');
      this.server.forceShutdown();
    }
  }

  private forward(call: ServerDuplexStream<WireBatch, WireAck>): void {
    const state: ForwardCall = { acked: Promise.resolve(), ending: this.closing };
    this.calls.set(call, state);
    call.on('data', (batch: WireBatch) => {
      // After close() began, a batch is left unacked: its sender resends it.
      if (state.ending) return;
      // Handed to the broker at once, in arrival order; only the acks wait for earlier ones.
      const handled = this.handleBatch(batch);
      state.acked = state.acked.then(async () => {
        const ack = await handled;
        if (!call.cancelled) call.write(ack);
      });
    });
    call.on('end', () => {
      state.ending = true;
      void state.acked.then(() => call.end());
    });
    call.on('error', (error: Error) => this.log.debug({ err: error }, 'forward stream error'));
    call.on('close', () => this.calls.delete(call));
    call.on('cancelled', () => this.calls.delete(call));
  }

  private async handleBatch(batch: WireBatch): Promise<WireAck> {
    try {
      const { routeAgain = [], takeOns } = await this.handlers.onForward(batch.messages.map(decodeMessage), batch.fromNode, batch.routedAt || undefined);
      return { seq: batch.seq, failed: false, error: '', routeAgain, takeOns };
    } catch (error) {
      this.log.warn({ err: error, fromNode: batch.fromNode, seq: batch.seq }, 'forwarded batch not taken');
      return { seq: batch.seq, failed: true, error: errorText(error) };
    }
  }

  private async takeover(request: WireTakeoverRequest): Promise<WireTakeoverReply> {
    const { released, superseded = false } = await this.handlers.onTakeover(request.clientId, request.epoch);
    return { released, superseded };
  }

  private async dispatchShared(request: WireSharedRequest): Promise<WireSharedReply> {
    if (!request.message) throw new WireFormatError('shared dispatch without a message');
    const delivered = await this.handlers.onSharedDispatch(request.group, request.filter, decodeMessage(request.message), {
      onlineOnly: request.onlineOnly === true,
      ...(request.member ? { member: request.member } : {}),
      ...(request.leaving ? { exclude: request.leaving, excludeEpoch: request.leavingEpoch ?? 0 } : {}),
    });
    return { delivered };
  }

  private async describeClients(request: WireDescribeClientsRequest): Promise<WireDescribeClientsReply> {
    if (!this.handlers.onDescribeClients) throw new NotServedError('DescribeClients');
    const views = await this.handlers.onDescribeClients(request.clientIds, request.withSubscriptions);
    return { clients: views.map(encodeClient) };
  }

  private async kick(request: WireKickRequest): Promise<WireKickReply> {
    if (!this.handlers.onKick) throw new NotServedError('KickClient');
    const { found, disconnected, sessionDiscarded } = await this.handlers.onKick(request.clientId, request.discardSession);
    return { found, disconnected, sessionDiscarded };
  }

  private answer<T>(method: string, reply: sendUnaryData<T>, handle: () => Promise<T>): void {
    handle().then(
      (value) => reply(null, value),
      (error: unknown) => {
        this.log.warn({ err: error, method }, 'cluster call failed');
        const code = error instanceof WireFormatError ? status.INVALID_ARGUMENT : error instanceof NotServedError ? status.UNIMPLEMENTED : status.INTERNAL;
        reply({ code, details: errorText(error) });
      },
    );
  }
}

/** The handlers given to this server do not serve the method (an operations API call to a node without one). */
class NotServedError extends Error {
  override readonly name = 'NotServedError';
  constructor(method: string) {
    super(`${method} is not served here`);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** `host:port`, bracketing an IPv6 literal. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
