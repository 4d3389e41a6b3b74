import type { Socket } from 'node:net';
import { generate, writeToStream, type Packet } from 'mqtt-packet';
import { ConnackReturnCode, ReasonCode, reasonCodeName, type ProtocolVersion } from '@roost/protocol';
import type { Delivery } from '@roost/session';
import type { Action } from './actions.ts';
import { encodeWithin } from './fit-packet.ts';
import { Channel, type ChannelContext } from './channel.ts';
import { decodeModeOf, PacketReader, type PacketSink } from './packet-reader.ts';
import type { Logger } from './options.ts';

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
  /** A delivery was dropped (queue overflow, slow QoS 0 reader): counted and logged. */
  dropped(connection: Connection, delivery: Delivery, why: string): void;
}

// mqtt-packet's encoder otherwise builds, on its first use, a Buffer for each of the 65536
// two-byte numbers: 6.8 MB of heap for a saving of ~50 ns per encoded packet.
writeToStream.cacheNumbers = false;

// QoS 0 to a client that does not read is dropped beyond this much unsent data, so one slow
// subscriber cannot grow the broker's memory without bound.
const QOS0_BACKLOG_LIMIT = 4 * 1024 * 1024;

/**
 * Socket I/O for one client: bytes to packets through a PacketReader, packets to the
 * channel, the channel's actions to the socket or the broker.
 */
export class Connection implements PacketSink {
  readonly channel: Channel;
  readonly socket: Socket;
  private readonly host: ConnectionHost;
  /** Frames the socket's bytes into packets; the parsers that decode them are shared. */
  private readonly reader: PacketReader;
  /**
   * Packets waiting while the connection is blocked: CONNECT awaits its session (clients may
   * send packets before CONNACK), or retained messages are being sent after a SUBACK.
   */
  private readonly queued: Packet[] = [];
  private blocked = false;
  /**
   * Settles when every response owed so far has gone out: the acks of earlier packets that
   * wait for durability. Later responses are chained behind it, so acks keep packet order
   * [MQTT-4.6.0-2]; undefined when nothing is owed.
   */
  private owed: Promise<void> | undefined;
  /** Corked until the end of this event-loop turn (see write). */
  private corked = false;
  lastActivity = Date.now();
  readonly openedAt = Date.now();
  closed = false;
  private readingPaused = false;

  constructor(socket: Socket, host: ConnectionHost) {
    this.socket = socket;
    this.host = host;
    this.channel = new Channel(host.ctx);
    this.channel.onDrop = (delivery) => host.dropped(this, delivery, 'queue overflow');
    this.reader = new PacketReader(this, host.ctx.limits.maxPacketSize);
    (socket as OwnedSocket)[CONNECTION] = this;
    socket.on('data', onSocketData);
    socket.on('error', onSocketClose); // resets and timeouts end the connection, nothing more
    socket.on('close', onSocketClose);
  }

  get clientId(): string {
    return this.channel.clientId;
  }

  /** @internal the socket's 'data' listener */
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

  /** Refused before its body is buffered [MQTT-3.2.2-15]. */
  onTooLarge(size: number, whole: boolean): void {
    if (this.closed) return;
    this.fail(ReasonCode.PacketTooLarge, `packet of ${size} bytes exceeds ${whole ? 'the maximum' : this.host.ctx.limits.maxPacketSize}`);
  }

  onPacket(packet: Packet): void {
    if (this.closed) return;
    this.host.countIn(0, packet);
    // Later packets are decoded in the version this CONNECT announces.
    if (packet.cmd === 'connect') this.reader.mode = decodeModeOf(packet);
    if (this.blocked || this.queued.length > 0) {
      this.queued.push(packet);
      return;
    }
    this.process(packet);
  }

  private process(packet: Packet): void {
    this.respond(this.channel.handle(packet));
    if (this.channel.state === 'connecting') this.blocked = true;
    else if (!this.closed) this.host.touched(this);
  }

  private drainQueued(): void {
    while (this.queued.length > 0 && !this.blocked && !this.closed) this.process(this.queued.shift()!);
  }

  onMalformed(error: Error): void {
    if (this.closed) return;
    if (this.channel.state === 'awaiting-connect' && /protocol version/i.test(error.message)) {
      // [MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01 before the close.
      this.write({ cmd: 'connack', sessionPresent: false, returnCode: ConnackReturnCode.UnacceptableProtocolVersion });
    }
    this.fail(ReasonCode.MalformedPacket, error.message);
  }

  /** Called when the session is ready: run the CONNACK actions, then what queued meanwhile. */
  attached(actions: Action[]): void {
    this.blocked = false;
    this.run(actions);
    this.drainQueued();
  }

  /**
   * Resolves once the socket's unsent data is under the QoS 0 backlog limit (or it closed):
   * a long replay (retained messages) waits here instead of having its QoS 0 part dropped.
   */
  writable(): Promise<void> | undefined {
    if (this.closed || this.socket.writableLength <= QOS0_BACKLOG_LIMIT) return undefined;
    return new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /**
   * Stops reading from the client until `until` settles: a publisher whose messages cannot
   * move on (a peer link full) waits in its own socket, as TCP lets it, rather than in memory.
   */
  pauseReading(until: Promise<unknown>): void {
    if (this.closed || this.readingPaused) return;
    this.readingPaused = true;
    this.socket.pause();
    const resume = () => {
      this.readingPaused = false;
      if (!this.closed) this.socket.resume();
    };
    until.then(resume, resume);
  }

  deliver(delivery: Delivery): void {
    if (this.closed) return;
    if (delivery.qos === 0 && this.socket.writableLength > QOS0_BACKLOG_LIMIT) {
      this.host.dropped(this, delivery, 'qos0 backlog');
      return;
    }
    this.run(this.channel.deliver(delivery));
  }

  /**
   * A packet's effects (routing a message, changing subscriptions) happen at once, in packet
   * order; its responses go out in packet order too, each once the durability it waits for is
   * reached. A publisher's next messages are thus routed while earlier ones are still being
   * stored or forwarded to peers, rather than one round trip per message.
   */
  private respond(actions: Action[]): void {
    let effects = 0;
    for (; effects < actions.length && isEffect(actions[effects]!); effects++) {
      const pending = this.host.execute(this, actions[effects]!);
      if (pending) this.owe(pending);
    }
    const responses = effects === 0 ? actions : actions.slice(effects);
    if (this.owed === undefined) this.run(responses);
    else if (responses.length > 0) this.chain(this.owed.then(() => this.runLater(responses)));
  }

  /** Later responses wait for `pending`; if it fails, the connection closes unacknowledged. */
  private owe(pending: Promise<unknown>): void {
    const durable = this.owed ? Promise.all([this.owed, pending]) : pending;
    this.chain(
      durable.then(
        () => undefined,
        (error: unknown) => {
          if (this.closed) return;
          // Without an ack the client sends the message again after reconnecting; nothing is lost.
          this.host.log.warn({ err: error, clientId: this.clientId }, 'closing: message could not be made durable');
          this.disconnect(ReasonCode.UnspecifiedError, 'the message could not be stored; send it again');
        },
      ),
    );
  }

  /** Responses run from a promise: a throw would be an unhandled rejection, so it closes this connection instead. */
  private runLater(responses: Action[]): void {
    try {
      this.run(responses);
    } catch (error) {
      this.host.log.error({ err: error, clientId: this.clientId }, 'closing: a response could not be sent');
      this.close();
    }
  }

  private chain(next: Promise<void>): void {
    this.owed = next;
    void next.then(() => {
      if (this.owed === next) this.owed = undefined;
    });
  }

  run(actions: Action[], from = 0): void {
    for (let i = from; i < actions.length; i++) {
      if (this.closed) return;
      const action = actions[i]!;
      if (action.type === 'send') {
        this.write(action.packet, action.data);
      } else if (action.type === 'close') {
        this.closeFor(action.reasonCode, action.reason, action.notify);
      } else {
        const pending = this.host.execute(this, action);
        if (pending) {
          this.resumeAfter(pending, actions, i + 1);
          return;
        }
      }
    }
  }

  /** The rest of `actions` and later packets wait until `pending` settles. */
  private resumeAfter(pending: Promise<unknown>, actions: Action[], next: number): void {
    this.blocked = true;
    pending.then(
      () => {
        if (this.closed) return;
        this.blocked = false;
        this.run(actions, next);
        this.drainQueued();
      },
      (error: unknown) => {
        // Without an ack the client sends the message again after reconnecting; nothing is lost.
        this.host.log.warn({ err: error, clientId: this.clientId }, 'closing: message could not be made durable');
        this.disconnect(ReasonCode.UnspecifiedError, 'the message could not be stored; send it again');
      },
    );
  }

  /** @internal the end of a turn's cork */
  uncorked(): void {
    this.corked = false;
    this.socket.uncork();
  }

  write(packet: Packet, data?: Buffer): void {
    if (this.closed) return; // after a close for a packet that could not fit, the rest is moot
    const bytes = data ?? this.encode(packet);
    if (bytes === undefined) {
      // Nothing the client could accept can say so; a client whose limit cannot hold a
      // CONNACK or an ack cannot take part in the protocol.
      this.host.log.info({ clientId: this.clientId || undefined, cmd: packet.cmd }, "closing: a packet cannot fit the client's maximum packet size");
      this.close();
      return;
    }
    this.host.countOut(bytes.length, packet);
    // Writes of one event-loop turn leave in one writev: a subscriber fed by many publishers
    // otherwise pays a syscall per message.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(uncork, this);
    }
    this.socket.write(bytes);
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

  private closeFor(reasonCode: ReasonCode, reason: string, notify: boolean): void {
    if (reasonCode >= 0x80) {
      this.host.countProtocolError();
      this.host.log.info({ clientId: this.clientId || undefined, reasonCode: reasonCodeName(reasonCode), reason }, 'closing connection');
    }
    if (notify) this.write(this.channel.disconnectPacket(reasonCode, reason));
    this.close();
  }

  /** Server-initiated close with a reason (takeover, keep alive, shutdown). */
  disconnect(reasonCode: ReasonCode, reason: string): void {
    if (this.closed) return;
    const notify = this.channel.version === 5 && this.channel.state === 'connected';
    this.channel.state = 'closed';
    if (notify) this.write(this.channel.disconnectPacket(reasonCode, reason));
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.state = 'closed';
    this.socket.end();
    // end() flushes what was written (CONNACK refusals, DISCONNECT); destroy if the peer never reads.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.host.detach(this);
  }
}

/** Ends a turn's cork (see Connection.write). */
function uncork(connection: Connection): void {
  connection.uncorked();
}

/**
 * The socket's listeners are shared by every connection and find theirs on the socket: a
 * closure each, and its context, cost about 200 bytes per connection.
 */
const CONNECTION = Symbol('roost.connection');
type OwnedSocket = Socket & { [CONNECTION]: Connection };

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[CONNECTION].onData(chunk);
}

function onSocketClose(this: OwnedSocket): void {
  this[CONNECTION].close();
}

/** Actions that change broker state and may make the responses after them wait for durability. */
function isEffect(action: Action): boolean {
  return action.type === 'publish' || action.type === 'subscribe' || action.type === 'unsubscribe' || action.type === 'persist';
}
