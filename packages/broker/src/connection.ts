import type { Duplex } from 'node:stream';
import { generate, writeToStream, type Packet } from 'mqtt-packet';
import { ConnackReturnCode, ReasonCode, reasonCodeName, type ProtocolVersion } from '@roost/protocol';
import type { Delivery } from '@roost/session';
import type { Action } from './actions.ts';
import type { AuthDecision } from './authenticator.ts';
import { encodeWithin } from './fit-packet.ts';
import { Channel, type Admission, type ChannelContext } from './channel.ts';
import { describeInfo, type ConnectionInfo } from './connection-info.ts';
import { decodeModeOf, PacketReader, type PacketSink } from './packet-reader.ts';
import type { Logger } from './options.ts';
import { PublishGate, type GatedConnection } from './publish-gate.ts';
import type { LimitName } from './stats.ts';
import { ResponseOrder } from './response-order.ts';
import type { ClosedBy, DropReason } from './stats.ts';

/** What a connection needs from the broker; the broker implements it. */
export interface ConnectionHost {
  readonly ctx: ChannelContext;
  readonly log: Logger;
  /** Runs a broker action; a promise holds back this connection's later actions until it settles. */
  execute(connection: Connection, action: Action): Promise<unknown> | void;
  /** The session may have changed: persist it on the next flush. */
  touched(connection: Connection): void;
  detach(connection: Connection): void;
  countIn(bytes: number, packet: Packet): void;
  countOut(bytes: number, packet: Packet): void;
  countProtocolError(): void;
  /** A delivery was dropped (queue overflow, slow QoS 0 reader, expired, too large): counted and logged. */
  dropped(connection: Connection, delivery: Delivery, reason: DropReason): void;
  /** A connection that sent CONNECT closed: counted by who closed it and the reason code. */
  countDisconnect(by: ClosedBy, reasonCode: ReasonCode | undefined): void;
}

// mqtt-packet's encoder otherwise builds, on its first use, a Buffer for each of the 65536
// two-byte numbers: 6.8 MB of heap for a saving of ~50 ns per encoded packet.
writeToStream.cacheNumbers = false;

// QoS 0 to a client that does not read is dropped beyond this much unsent data, so one slow
// subscriber cannot grow the broker's memory without bound.
const QOS0_BACKLOG_LIMIT = 4 * 1024 * 1024;

/**
 * Stream I/O for one client, over any duplex byte stream (TCP, TLS, a WebSocket's binary
 * frames): bytes to packets through a PacketReader, packets to the channel, the channel's
 * actions to the stream or the broker.
 */
export class Connection implements PacketSink, GatedConnection {
  readonly channel: Channel;
  readonly stream: Duplex;
  /** Where the client came from, fixed before its first packet. */
  readonly info: ConnectionInfo;
  private readonly host: ConnectionHost;
  /** Frames the stream's bytes into packets; the parsers that decode them are shared. */
  private readonly reader: PacketReader;
  private readonly order: ResponseOrder;
  /** Resolves CONNECT's barrier once the session is attached. */
  private sessionAttached: (() => void) | undefined;
  /** Corked until the end of this event-loop turn (see write). */
  private corked = false;
  lastActivity = Date.now();
  readonly openedAt = Date.now();
  closed = false;
  private connectedAt = 0;
  /** A CONNECT arrived (accepted or not): the close is then a client's, logged at info. */
  private connectReceived = false;
  /** Reasons reading is paused for (a congested peer link, the publish rate); reading resumes at 0. */
  private pauses = 0;
  /** Undefined without a publish rate limit. */
  private readonly gate: PublishGate | undefined;

  /** Anything but `admitted` (the node's connection limit, the address's connect rate): the CONNECT is refused. */
  constructor(stream: Duplex, info: ConnectionInfo, host: ConnectionHost, admission: Admission = 'admitted') {
    this.stream = stream;
    this.info = info;
    this.host = host;
    this.channel = new Channel(host.ctx, admission);
    this.gate = PublishGate.of(host.ctx.limits, this);
    this.channel.dropSink = this;
    this.reader = new PacketReader(this, host.ctx.limits.maxPacketSize);
    this.order = new ResponseOrder((error) => this.owedFailed(error));
    (stream as OwnedStream)[CONNECTION] = this;
    stream.on('data', onStreamData);
    stream.on('error', onStreamError); // resets and timeouts end the connection, nothing more
    stream.on('close', onStreamClose);
    // A listener whose pre-MQTT stage ran (PROXY header) hands the stream over paused.
    if (stream.isPaused()) stream.resume();
  }

  get clientId(): string {
    return this.channel.clientId;
  }

  /** @internal the stream's 'data' listener */
  onData(chunk: Buffer): void {
    this.lastActivity = Date.now();
    if (this.closed) return;
    try {
      this.reader.read(chunk);
    } catch (error) {
      // A packet the broker failed on is a broker bug; it must cost this connection only, never
      // the process and everyone else on it.
      this.host.log.error({ err: error, clientId: this.clientId || undefined }, 'closing: internal error handling a packet');
      this.disconnect(ReasonCode.ImplementationSpecificError, 'internal error');
    }
  }

  /** @internal the channel's DropSink */
  dropped(delivery: Delivery, reason: DropReason): void {
    this.host.dropped(this, delivery, reason);
  }

  /** Refused before its body is buffered [MQTT-3.2.2-15]. */
  onTooLarge(size: number, whole: boolean): void {
    if (this.closed) return;
    this.fail(ReasonCode.PacketTooLarge, `packet of ${size} bytes exceeds ${whole ? 'the maximum' : this.host.ctx.limits.maxPacketSize}`);
  }

  onPacket(packet: Packet): void {
    if (this.closed) return;
    this.host.countIn(0, packet);
    if (packet.cmd === 'connect') {
      // Later packets are decoded in the version this CONNECT announces.
      this.reader.mode = decodeModeOf(packet);
      this.connectReceived = true;
    }
    if (packet.cmd === 'publish' && this.gate?.took(packet)) return;
    if (this.order.holdsPackets) this.order.then(() => this.process(packet));
    else this.process(packet);
  }

  /** @internal for the PublishGate: a held-back PUBLISH's turn, in packet order. */
  holdInOrder(step: () => unknown, released: Promise<void>): void {
    this.order.holdPackets(released);
    this.order.then(step);
  }

  /** @internal for the PublishGate */
  countLimit(limit: LimitName): void {
    this.host.execute(this, { type: 'limit', limit });
  }

  /**
   * A packet's effects (routing a message, changing subscriptions) happen at once, in packet
   * order; its responses go out in packet order too, each once the durability it waits for is
   * reached. A publisher's next messages are thus routed while earlier ones are still being
   * stored or forwarded to peers, rather than one round trip per message.
   */
  /** @internal packet order is the caller's to keep (onPacket, the PublishGate) */
  process(packet: Packet): void {
    if (this.closed) return;
    const actions = this.channel.handle(packet);
    let effects = 0;
    for (; effects < actions.length && isEffect(actions[effects]!); effects++) {
      const pending = this.host.execute(this, actions[effects]!);
      if (pending) this.order.awaitDurable(pending);
    }
    const connecting = this.channel.state === 'connecting';
    if (connecting) {
      // CONNECT waits for its session (SessionLifecycle calls `attached`, perhaps at once);
      // clients may send packets before CONNACK, and they wait behind it.
      const attached = new Promise<void>((resolve) => (this.sessionAttached = resolve));
      this.order.holdPackets(attached);
      this.order.awaitDurable(attached);
    }
    const responses = effects === 0 ? actions : actions.slice(effects);
    if (connecting || this.order.idle) this.run(responses);
    // From the chain: a barrier among the responses holds its next steps (runFrom returns it).
    else if (responses.length > 0) this.order.then(() => this.runFrom(responses, 0));
    if (!connecting && !this.closed) this.host.touched(this);
  }

  onMalformed(error: Error): void {
    if (this.closed) return;
    if (this.channel.state === 'awaiting-connect' && /protocol version/i.test(error.message)) {
      // [MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01 before the close.
      this.write({ cmd: 'connack', sessionPresent: false, returnCode: ConnackReturnCode.UnacceptableProtocolVersion });
    }
    this.fail(ReasonCode.MalformedPacket, error.message);
  }

  /** The Authenticator's decision: accepted, the session is resolved next; refused, CONNACK and close. */
  authenticated(decision: AuthDecision): void {
    if (this.closed) return;
    this.run(this.channel.authenticated(decision));
    // Closed: packets held behind the CONNECT are never processed. Authenticating: the client's
    // next AUTH is among them and must reach the channel. Either way, release the barrier.
    if (this.closed || this.channel.state === 'authenticating') {
      this.sessionAttached?.();
      this.sessionAttached = undefined;
    }
  }

  /** Called when the session is ready: run the CONNACK actions, then what waited behind them. */
  attached(actions: Action[]): void {
    this.run(actions);
    if (!this.closed && this.channel.state === 'connected') {
      this.connectedAt = Date.now();
      const { channel } = this;
      this.host.log.info(
        { clientId: channel.clientId, username: channel.username, ...describeInfo(this.info), protocolVersion: channel.version, keepAlive: channel.keepAlive },
        'client connected',
      );
    }
    this.sessionAttached?.();
    this.sessionAttached = undefined;
  }

  /**
   * Resolves once the stream's unsent data is under the QoS 0 backlog limit (or it closed):
   * a long replay (retained messages) waits here instead of having its QoS 0 part dropped.
   */
  writable(): Promise<void> | undefined {
    if (this.closed || this.stream.writableLength <= QOS0_BACKLOG_LIMIT) return undefined;
    return new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('close', done);
    });
  }

  /**
   * Stops reading from the client until `until` settles: a publisher whose messages cannot
   * move on (a peer link full) waits in its own socket, as TCP lets it, rather than in memory.
   */
  pauseReading(until: Promise<unknown>): void {
    if (this.closed) return;
    if (this.pauses++ === 0) this.stream.pause();
    const resume = () => {
      if (--this.pauses > 0 || this.closed) return;
      // What the client sent meanwhile waited in its socket: the keep alive restarts from here.
      this.lastActivity = Date.now();
      this.stream.resume();
    };
    until.then(resume, resume);
  }

  /** Reading is paused: silence from the client then says nothing about its keep alive. */
  get readingPaused(): boolean {
    return this.pauses > 0;
  }

  deliver(delivery: Delivery): void {
    if (this.closed) return;
    if (delivery.qos === 0 && this.stream.writableLength > QOS0_BACKLOG_LIMIT) {
      this.host.dropped(this, delivery, 'slow_consumer');
      return;
    }
    this.run(this.channel.deliver(delivery));
  }

  /** Runs actions in order; one that returns a promise (a retained replay, a persist) is a barrier for the rest. */
  run(actions: Action[]): void {
    const rest = this.runFrom(actions, 0);
    if (rest) this.order.awaitDurable(rest);
  }

  private runFrom(actions: Action[], from: number): Promise<void> | undefined {
    for (let i = from; i < actions.length; i++) {
      if (this.closed) return undefined;
      const action = actions[i]!;
      if (action.type === 'send') {
        this.write(action.packet, action.data);
      } else if (action.type === 'close') {
        this.closeFor(action.reasonCode, action.reason, action.notify, action.byClient === true);
      } else {
        const pending = this.host.execute(this, action);
        if (!pending) continue;
        const rest = pending.then(() => this.runFrom(actions, i + 1));
        // A persist delays only what follows it (QoS 2 PUBLISHes waiting for their packet ids to
        // be stored); the client's next packets, their acks above all, go on being handled.
        // Any other barrier (a retained replay) holds them back until it is done.
        if (action.type !== 'persist') this.order.holdPackets(rest);
        return rest;
      }
    }
    return undefined;
  }

  private owedFailed(error: unknown): void {
    if (this.closed) return;
    // Without an ack the client sends the message again after reconnecting; nothing is lost.
    this.host.log.warn({ err: error, clientId: this.clientId }, 'closing: message could not be made durable');
    this.disconnect(ReasonCode.UnspecifiedError, 'the message could not be stored; send it again');
  }

  /** @internal the end of a turn's cork */
  uncorked(): void {
    this.corked = false;
    this.stream.uncork();
  }

  write(packet: Packet, data?: Buffer): void {
    if (this.closed) return; // after a close for a packet that could not fit, the rest is moot
    const bytes = data ?? this.encode(packet);
    if (bytes === undefined) {
      // Nothing the client could accept can say so; a client whose limit cannot hold a
      // CONNACK or an ack cannot take part in the protocol.
      this.close('server', undefined, "a packet cannot fit the client's maximum packet size");
      return;
    }
    this.host.countOut(bytes.length, packet);
    // Writes of one event-loop turn leave in one writev: a subscriber fed by many publishers
    // otherwise pays a syscall per message.
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(uncork, this);
    }
    this.stream.write(bytes);
  }

  /** PUBLISHes come measured from the channel; every other packet is fitted here [MQTT-3.1.2-24]. */
  private encode(packet: Packet): Buffer | undefined {
    const version = this.channel.version as ProtocolVersion;
    const limit = this.channel.clientMaximumPacketSize;
    return limit === undefined ? generate(packet, { protocolVersion: version }) : encodeWithin(packet, version, limit);
  }

  /** Close for a violation by the client: counted, logged at info, DISCONNECT first on v5. */
  fail(reasonCode: ReasonCode, reason: string): void {
    if (this.closed) return;
    this.run(this.channel.fail(reasonCode, reason));
  }

  private closeFor(reasonCode: ReasonCode, reason: string, notify: boolean, byClient: boolean): void {
    // A refusal at the connection limit is the node's state, not the client's fault.
    if (reasonCode >= 0x80 && reasonCode !== ReasonCode.QuotaExceeded) this.host.countProtocolError();
    if (notify) this.write(this.channel.disconnectPacket(reasonCode, reason));
    this.close(byClient ? 'client' : 'server', reasonCode, reason);
  }

  /** Server-initiated close with a reason (takeover, keep alive, shutdown; a drain may name another server). */
  disconnect(reasonCode: ReasonCode, reason: string, serverReference?: string): void {
    if (this.closed) return;
    const notify = this.channel.version === 5 && this.channel.state === 'connected';
    this.channel.state = 'closed';
    if (notify) this.write(this.channel.disconnectPacket(reasonCode, reason, serverReference));
    this.close('server', reasonCode, reason);
  }

  /** Closes the stream; the reason and who closed go to the log line every connection ends with. */
  close(by: ClosedBy = 'server', reasonCode?: ReasonCode, reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.state = 'closed';
    this.stream.end();
    // end() flushes what was written (CONNACK refusals, DISCONNECT); destroy if the peer never reads.
    setTimeout(() => this.stream.destroy(), 1000).unref();
    this.host.detach(this);
    const fields = {
      clientId: this.clientId || undefined,
      ...describeInfo(this.info),
      closedBy: by,
      // 0x00 is named Success first; on a close it means a normal disconnection.
      reasonCode: reasonCode === undefined ? undefined : reasonCode === ReasonCode.NormalDisconnection ? 'NormalDisconnection' : reasonCodeName(reasonCode),
      reason,
      connectedMs: this.connectedAt === 0 ? undefined : Date.now() - this.connectedAt,
    };
    // A socket that never sent CONNECT (a load balancer's health check, a port scan) is not a
    // client yet: at info, health checks every few seconds would bury the clients' lines.
    if (!this.connectReceived) {
      this.host.log.debug(fields, 'connection closed');
      return;
    }
    this.host.countDisconnect(by, reasonCode);
    this.host.log.info(fields, 'connection closed');
  }
}

/** Ends a turn's cork (see Connection.write). */
function uncork(connection: Connection): void {
  connection.uncorked();
}

/**
 * The stream's listeners are shared by every connection and find theirs on the stream: a
 * closure each, and its context, cost about 200 bytes per connection.
 */
const CONNECTION = Symbol('roost.connection');
type OwnedStream = Duplex & { [CONNECTION]: Connection };

function onStreamData(this: OwnedStream, chunk: Buffer): void {
  this[CONNECTION].onData(chunk);
}

function onStreamError(this: OwnedStream, error: NodeJS.ErrnoException): void {
  this[CONNECTION].close('client', undefined, error.code ?? error.message);
}

function onStreamClose(this: OwnedStream): void {
  this[CONNECTION].close('client', undefined, 'connection lost');
}

/** Actions that change broker state and may make the responses after them wait for durability. */
function isEffect(action: Action): boolean {
  return action.type === 'publish' || action.type === 'subscribe' || action.type === 'unsubscribe' || action.type === 'persist';
}
