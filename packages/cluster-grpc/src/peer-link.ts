// The sending side towards one peer: a channel, one Forward stream opened when there is
// something to send, a bounded buffer batched once per event-loop tick, a window of
// unacknowledged batches, and resending on a new stream within a retry budget.
import { Client, connectivityState, credentials, type ChannelOptions, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import type { Logger, Taken } from '@roost/broker';
import { PeerUnavailableError, type Message } from '@roost/protocol';
import { encodeMessage, wireSize } from './codec.ts';
import { clusterService, type WireAck, type WireBatch, type WireMessage } from './proto.ts';
import type { TransportStats } from './stats.ts';

export interface PeerLinkOptions {
  /** Sent as `from_node` in every batch. */
  selfNodeId: string;
  /** Messages queued or unacknowledged before forward() refuses more. */
  maxBufferedMessages: number;
  /** From the first failure until the peer acknowledges again; then everything waiting fails. */
  retryTimeoutMs: number;
  maxBatchMessages: number;
  maxBatchBytes: number;
  /** Batches sent and not yet acknowledged; the rest waits in the buffer. */
  maxInFlightBatches: number;
  log: Logger;
  stats: TransportStats;
}

interface Waiter {
  wire: WireMessage;
  size: number;
  /** When it was handed to the link (epoch ms). */
  at: number;
  resolve(taken: Taken): void;
  reject(error: Error): void;
}

interface Batch {
  wire: WireBatch;
  waiters: Waiter[];
  /** performance.now() at its first write, for the forward latency histogram. */
  sentAt: number;
}

const RETRY_BACKOFF_MS = 50;
const RETRY_BACKOFF_MAX_MS = 1_000;

/*
 * Keepalive pings find a peer that vanished without closing its connection, which the stream
 * alone would wait on forever. Channel reconnect backoff is kept short (grpc-js starts at 1 s)
 * so a restarted peer is found well within the retry budget. A local subchannel pool keeps a
 * recreated channel from inheriting the backoff state of the one it replaces.
 */
const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': RETRY_BACKOFF_MAX_MS,
  'grpc.use_local_subchannel_pool': 1,
};

export class PeerLink {
  readonly nodeId: string;
  private addressNow: string;
  private clientNow: Client;
  private readonly options: PeerLinkOptions;
  private readonly log: Logger;
  private stream: ClientDuplexStream<WireBatch, WireAck> | undefined;
  /** Waiting to be sent, oldest first. */
  private queue: Waiter[] = [];
  /** Sent and not acknowledged, in seq order (Map keeps insertion order). */
  private readonly inFlight = new Map<number, Batch>();
  private inFlightMessages = 0;
  private nextSeq = 1;
  private flushImmediate: NodeJS.Immediate | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private budgetTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private lastError = 'no connection yet';
  private closed = false;
  /** Waiting for the buffer to drain below a quarter of its bound (congestion). */
  private drainWaiters: Array<() => void> = [];

  constructor(nodeId: string, address: string, options: PeerLinkOptions) {
    this.nodeId = nodeId;
    this.addressNow = address;
    this.options = options;
    this.log = options.log.child({ peer: nodeId });
    this.clientNow = new Client(address, credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  get address(): string {
    return this.addressNow;
  }

  /** The peer's channel, shared with the unary calls. */
  get client(): Client {
    return this.clientNow;
  }

  /** Resolves once the peer took it (ClusterTransport.forward). */
  forward(message: Message): Promise<Taken> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const wire = encodeMessage(message);
    return new Promise<Taken>((resolve, reject) => {
      this.queue.push({ wire, size: wireSize(wire), at: Date.now(), resolve, reject });
      this.scheduleFlush();
    });
  }

  /** As forward(), with nobody waiting for the ack: no promise per message (QoS 0). */
  post(message: Message): void {
    if (this.refusal()) return;
    const wire = encodeMessage(message);
    this.queue.push({ wire, size: wireSize(wire), at: Date.now(), resolve: ignore, reject: ignore });
    this.scheduleFlush();
  }

  /**
   * More than half the buffer is taken: the broker stops reading from publishers until
   * `drained()`, so a flood waits in their sockets instead of overflowing the buffer.
   */
  get congested(): boolean {
    return this.queue.length + this.inFlightMessages >= this.options.maxBufferedMessages / 2;
  }

  /** Resolves once the buffer is below a quarter of its bound, or the link failed or closed. */
  drained(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private wakeIfDrained(): void {
    if (this.drainWaiters.length === 0 || this.queue.length + this.inFlightMessages > this.options.maxBufferedMessages / 4) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Why a message cannot be taken now (counted as dropped when the buffer is full). */
  private refusal(): PeerUnavailableError | undefined {
    if (this.closed) return new PeerUnavailableError(this.nodeId, 'link closed');
    if (this.queue.length + this.inFlightMessages < this.options.maxBufferedMessages) return undefined;
    this.options.stats.droppedMessages += 1;
    return new PeerUnavailableError(this.nodeId, `buffer full (${this.options.maxBufferedMessages} messages)`);
  }

  /**
   * The peer is now at another address (it restarted elsewhere): a new channel, and what it
   * had not acknowledged goes there, since the node id still wants it.
   */
  moveTo(address: string): void {
    if (this.closed || address === this.addressNow) return;
    this.log.info({ from: this.addressNow, to: address }, 'peer moved; new channel');
    this.abandonStream();
    this.clearTimer('reconnectTimer');
    this.clientNow.close();
    this.addressNow = address;
    this.clientNow = new Client(address, credentials.createInsecure(), CHANNEL_OPTIONS);
    if (this.inFlight.size > 0 || this.queue.length > 0) this.reconnect();
  }

  /** Fails everything waiting for this peer and closes its channel; the link is not used again. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.clearTimer('reconnectTimer');
    this.clearTimer('budgetTimer');
    this.abandonStream();
    this.failAll(reason);
    this.clientNow.close();
  }

  private scheduleFlush(): void {
    if (this.flushImmediate || this.closed) return;
    // Once per tick: every forward() of this tick rides in the same batch.
    this.flushImmediate = setImmediate(() => {
      this.flushImmediate = undefined;
      this.flush();
    });
  }

  private flush(): void {
    // While waiting to reconnect the buffer holds; reconnect() flushes.
    if (this.closed || this.reconnectTimer || this.queue.length === 0) return;
    const stream = this.stream ?? this.open();
    while (this.queue.length > 0 && this.inFlight.size < this.options.maxInFlightBatches) {
      const batch = this.takeBatch();
      this.inFlight.set(batch.wire.seq, batch);
      this.inFlightMessages += batch.waiters.length;
      // write()'s backpressure is not needed: the window bounds what the stream holds.
      stream.write(batch.wire);
    }
  }

  private takeBatch(): Batch {
    const { maxBatchMessages, maxBatchBytes } = this.options;
    let count = 0;
    let bytes = 0;
    // At least one message, so a message larger than the byte cap still travels (alone).
    while (count < this.queue.length && count < maxBatchMessages) {
      const size = this.queue[count]!.size;
      if (count > 0 && bytes + size > maxBatchBytes) break;
      bytes += size;
      count += 1;
    }
    const waiters = this.queue.splice(0, count);
    // The queue is oldest first: the first waiter's time bounds every message's routing.
    const wire: WireBatch = { seq: this.nextSeq++, fromNode: this.options.selfNodeId, messages: waiters.map((w) => w.wire), routedAt: waiters[0]!.at };
    this.options.stats.batchSize.observe(count);
    return { wire, waiters, sentAt: performance.now() };
  }

  private open(): ClientDuplexStream<WireBatch, WireAck> {
    const { path, requestSerialize, responseDeserialize } = clusterService.Forward;
    const stream = this.clientNow.makeBidiStreamRequest(path, requestSerialize, responseDeserialize);
    stream.on('data', (ack: WireAck) => this.acknowledged(ack));
    // 'status' ends every call, OK or not; 'error' only needs a listener so it cannot throw.
    stream.on('error', () => {});
    stream.on('status', (status: StatusObject) => this.lost(stream, status));
    this.stream = stream;
    // A channel still connecting may wait long before failing (a peer that drops packets):
    // the budget starts now, not at the failure.
    if (this.clientNow.getChannel().getConnectivityState(false) !== connectivityState.READY) this.startBudget();
    return stream;
  }

  /**
   * Acks are taken from any stream of this link, the old one included: seqs are never reused,
   * so an ack always names a batch the peer did take.
   */
  private acknowledged(ack: WireAck): void {
    const batch = this.inFlight.get(ack.seq);
    if (!batch) return; // acked twice: once before a resend and once after
    this.inFlight.delete(ack.seq);
    this.inFlightMessages -= batch.waiters.length;
    this.recovered();
    if (ack.failed) {
      this.options.stats.rejectedMessages += batch.waiters.length;
      this.log.warn({ seq: ack.seq, error: ack.error }, 'peer refused a batch');
      const error = new PeerUnavailableError(this.nodeId, `refused the batch: ${ack.error}`);
      for (const waiter of batch.waiters) waiter.reject(error);
    } else {
      this.options.stats.forwardLatency.observe((performance.now() - batch.sentAt) / 1000);
      this.options.stats.forwardedBatches += 1;
      this.options.stats.forwardedMessages += batch.waiters.length;
      const again = new Set(ack.routeAgain);
      const { takeOns } = ack;
      batch.waiters.forEach((waiter, i) => waiter.resolve({ again: again.has(i), takeOns }));
    }
    this.flush();
    this.wakeIfDrained();
  }

  private lost(stream: ClientDuplexStream<WireBatch, WireAck>, status: StatusObject): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    // An idle link just forgets its stream; the next forward() opens another.
    if (this.closed || (this.inFlight.size === 0 && this.queue.length === 0)) return;
    this.log.warn({ code: status.code, details: status.details, unacked: this.inFlight.size }, 'forward stream lost; retrying');
    this.lastError = status.details;
    this.startBudget();
    const delay = Math.min(RETRY_BACKOFF_MS * 2 ** this.attempts, RETRY_BACKOFF_MAX_MS);
    this.attempts += 1;
    this.reconnectTimer = setTimeout(() => this.reconnect(), delay);
  }

  /** A new stream; unacknowledged batches go first, in order, then the buffer. */
  private reconnect(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    this.options.stats.retries += 1;
    const stream = this.open();
    for (const batch of this.inFlight.values()) stream.write(batch.wire);
    this.flush();
  }

  /** Runs until the peer acknowledges something; started by a failure or a wait to connect. */
  private startBudget(): void {
    this.budgetTimer ??= setTimeout(() => this.giveUp(), this.options.retryTimeoutMs);
  }

  private recovered(): void {
    this.attempts = 0;
    this.clearTimer('budgetTimer');
  }

  /** The retry budget ran out: fail what waits and start afresh on the next forward(). */
  private giveUp(): void {
    this.budgetTimer = undefined;
    if (this.inFlight.size === 0 && this.queue.length === 0) return;
    const lastError = this.lastError;
    this.lastError = 'no connection yet';
    this.attempts = 0;
    this.clearTimer('reconnectTimer');
    this.abandonStream();
    this.log.warn({ retryTimeoutMs: this.options.retryTimeoutMs, lastError }, 'peer unreachable; failing its messages');
    this.failAll(`unreachable for ${this.options.retryTimeoutMs} ms: ${lastError}`);
  }

  private failAll(reason: string): void {
    const error = new PeerUnavailableError(this.nodeId, reason);
    const waiters = [...[...this.inFlight.values()].flatMap((batch) => batch.waiters), ...this.queue];
    this.inFlight.clear();
    this.inFlightMessages = 0;
    this.queue = [];
    this.options.stats.droppedMessages += waiters.length;
    for (const waiter of waiters) waiter.reject(error);
    this.wakeIfDrained();
  }

  /** Cancels the current stream without treating its end as a loss. */
  private abandonStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
  }

  private clearTimer(name: 'reconnectTimer' | 'budgetTimer'): void {
    clearTimeout(this[name]);
    this[name] = undefined;
  }
}

function ignore(): void {}
