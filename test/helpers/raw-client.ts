import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import {
  generate,
  parser as createParser,
  type IConnackPacket,
  type IConnectPacket,
  type IDisconnectPacket,
  type ISubackPacket,
  type ISubscribePacket,
  type ISubscription,
  type Packet,
} from 'mqtt-packet';

export type ProtocolVersion = 3 | 4 | 5;
type Command = Packet['cmd'];
export type PacketOf<C extends Command> = Extract<Packet, { cmd: C }>;

/**
 * A client on a bare TCP socket that sends exactly the packets a test gives it, encoded by
 * mqtt-packet, and never acknowledges anything by itself. For what MQTT.js will not do:
 * a second CONNECT, withheld acks, out-of-range aliases, exact reason codes.
 */
export class RawClient {
  readonly socket: Socket;
  readonly protocolVersion: ProtocolVersion;
  /** Packets received and not yet taken by `next`, in arrival order. */
  readonly unread: Packet[] = [];
  closed = false;
  private readonly parser: ReturnType<typeof createParser>;
  private waiters: Array<() => void> = [];
  private lastPacketId = 0;

  private constructor(socket: Socket, protocolVersion: ProtocolVersion) {
    this.socket = socket;
    this.protocolVersion = protocolVersion;
    this.parser = createParser({ protocolVersion });
    this.parser.on('packet', (packet: Packet) => {
      this.unread.push(packet);
      this.wake();
    });
    this.parser.on('error', (error: Error) => {
      socket.destroy(error);
    });
    socket.on('data', (chunk: Buffer) => this.parser.parse(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** `localAddress` (another loopback address, 127.0.0.2) makes the client come from elsewhere. */
  static async open(port: number, protocolVersion: ProtocolVersion = 4, localAddress?: string): Promise<RawClient> {
    const socket = netConnect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    await once(socket, 'connect');
    socket.setNoDelay(true);
    return new RawClient(socket, protocolVersion);
  }

  /** Opens a socket, sends CONNECT and waits for CONNACK. */
  static async connect(
    port: number,
    protocolVersion: ProtocolVersion,
    fields: Partial<IConnectPacket> = {},
  ): Promise<{ client: RawClient; connack: IConnackPacket }> {
    const client = await RawClient.open(port, protocolVersion);
    const connack = await client.connect(fields);
    return { client, connack };
  }

  encode(packet: Packet): Buffer {
    return generate(packet, { protocolVersion: this.protocolVersion });
  }

  send(packet: Packet): void {
    this.socket.write(this.encode(packet));
  }

  /** Writes bytes as they are: for packets the codec will not produce because they are invalid. */
  sendBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** A fresh non-zero packet identifier. */
  packetId(): number {
    this.lastPacketId = (this.lastPacketId % 0xffff) + 1;
    return this.lastPacketId;
  }

  connectPacket(fields: Partial<IConnectPacket> = {}): IConnectPacket {
    return {
      cmd: 'connect',
      protocolId: this.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: this.protocolVersion,
      clientId: `raw-${Math.random().toString(36).slice(2, 10)}`,
      clean: true,
      keepalive: 0,
      ...fields,
    };
  }

  async connect(fields: Partial<IConnectPacket> = {}): Promise<IConnackPacket> {
    this.send(this.connectPacket(fields));
    return this.next('connack');
  }

  async subscribe(subscriptions: ISubscription[], properties?: ISubscribePacket['properties']): Promise<ISubackPacket> {
    const messageId = this.packetId();
    const packet: ISubscribePacket = { cmd: 'subscribe', messageId, subscriptions };
    if (properties) packet.properties = properties;
    this.send(packet);
    const suback = await this.next('suback');
    if (suback.messageId !== messageId) throw new Error(`SUBACK for ${suback.messageId}, expected ${messageId}`);
    return suback;
  }

  /**
   * Takes the first unread packet of type `cmd` (of any type when omitted); later packets of
   * other types stay unread. Rejects if the connection closes first or after `ms`.
   */
  async next<C extends Command>(cmd?: C, ms = 5000): Promise<PacketOf<C>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.unread.findIndex((p) => cmd === undefined || p.cmd === cmd);
      if (index >= 0) return this.unread.splice(index, 1)[0] as PacketOf<C>;
      if (this.closed) throw new Error(`connection closed while waiting for ${cmd ?? 'a packet'}; unread: ${this.describeUnread()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${cmd ?? 'packet'} within ${ms} ms; unread: ${this.describeUnread()}`);
      await this.wait(left);
    }
  }

  /** Resolves once the server has closed the connection; rejects after `ms`. */
  async waitClosed(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection still open after ${ms} ms; unread: ${this.describeUnread()}`);
      await this.wait(left);
    }
  }

  /** Ends the connection without DISCONNECT, as a network failure would. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Closes the socket and waits until it is gone. */
  async end(): Promise<void> {
    if (this.closed) return;
    this.socket.destroy();
    await this.waitClosed();
  }

  private describeUnread(): string {
    return JSON.stringify(this.unread.map((p) => p.cmd));
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Offset of the first variable-header byte: after the type byte and the remaining-length varint. */
export function variableHeaderOffset(packet: Buffer): number {
  let offset = 1;
  while (packet[offset]! & 0x80) offset++;
  return offset + 1;
}

/** Offset of the CONNECT flags byte in an encoded CONNECT. */
export function connectFlagsOffset(connect: Buffer): number {
  const start = variableHeaderOffset(connect);
  const nameLength = connect.readUInt16BE(start);
  return start + 2 + nameLength + 1;
}

/** Waits for the server to close `client`; returns the DISCONNECT it sent first, if any. */
export async function serverClose(client: RawClient, ms = 5000): Promise<IDisconnectPacket | undefined> {
  await client.waitClosed(ms);
  const index = client.unread.findIndex((p) => p.cmd === 'disconnect');
  return index >= 0 ? (client.unread.splice(index, 1)[0] as IDisconnectPacket) : undefined;
}

/**
 * The server closed `client` for a violation: on v5 after a DISCONNECT with `reasonCode`
 * [MQTT-4.13.1-1]; on v3 there is no DISCONNECT from the server, only the close.
 */
export async function assertServerClosed(client: RawClient, reasonCode: number, ms = 5000): Promise<void> {
  const disconnect = await serverClose(client, ms);
  if (client.protocolVersion === 5) {
    assert.equal(disconnect?.reasonCode, reasonCode, `expected DISCONNECT 0x${reasonCode.toString(16)}, got ${JSON.stringify(disconnect)}`);
  } else {
    assert.equal(disconnect, undefined, 'a v3 server never sends DISCONNECT');
  }
}

/** Whether a CONNACK accepted the connection, in either version's terms. */
export function isAccepted(connack: IConnackPacket): boolean {
  return (connack.reasonCode ?? connack.returnCode) === 0;
}

/**
 * The next PUBLISH, acknowledged through PUBREC, PUBREL, PUBCOMP as a QoS 2 client does (a
 * PUBREL of an earlier one on the way is completed too).
 */
export async function completeNextQos2(client: RawClient, ms = 10_000): Promise<PacketOf<'publish'>> {
  for (;;) {
    const packet = await client.next(undefined, ms);
    if (packet.cmd === 'pubrel') {
      client.send({ cmd: 'pubcomp', messageId: packet.messageId! });
      continue;
    }
    if (packet.cmd !== 'publish') throw new Error(`unexpected ${packet.cmd}`);
    client.send({ cmd: 'pubrec', messageId: packet.messageId! });
    return packet;
  }
}
