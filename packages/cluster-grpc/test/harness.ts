// Real transports on 127.0.0.1 ephemeral ports, and handlers that record what they are given
// and can be held or made to fail.
import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:net';
import type { ClusterHandlers, ForwardReceipt, SharedDispatchOptions } from '@roost/broker';
import type { Message } from '@roost/protocol';
import { GrpcClusterTransport, type GrpcClusterTransportOptions } from '../src/index.ts';

export interface ReceivedBatch {
  messages: Message[];
  fromNode: string;
  routedAt: number | undefined;
}

/** ClusterHandlers that record every call; `onBatch` decides how each forward ends. */
export class RecordingHandlers implements ClusterHandlers {
  readonly batches: ReceivedBatch[] = [];
  readonly takeovers: Array<{ clientId: string; epoch: number }> = [];
  readonly shared: Array<{ group: string; filter: string; message: Message; onlineOnly: boolean; member: string | undefined }> = [];
  /** Batches being handled right now, and the most ever at once. */
  active = 0;
  maxActive = 0;
  /** How each forward ends; it may name the batch's messages to route again. */
  onBatch: (batch: ReceivedBatch, index: number) => Promise<number[] | void> = async () => {};
  /** The take-on count every ack reports. */
  takeOns = 0;
  private readonly events = new EventEmitter();

  async onForward(messages: Message[], fromNode: string, routedAt?: number): Promise<ForwardReceipt> {
    const batch = { messages, fromNode, routedAt };
    const index = this.batches.push(batch) - 1;
    this.active += 1;
    this.maxActive = Math.max(this.maxActive, this.active);
    this.events.emit('batch');
    try {
      const routeAgain = (await this.onBatch(batch, index)) ?? undefined;
      return { routeAgain, takeOns: this.takeOns };
    } finally {
      this.active -= 1;
    }
  }

  async onTakeover(clientId: string, epoch: number): Promise<{ released: boolean; superseded?: boolean }> {
    this.takeovers.push({ clientId, epoch });
    if (clientId === 'explodes') throw new Error('session store down');
    if (clientId === 'claimed-later') return { released: false, superseded: true };
    return { released: clientId !== 'unknown' };
  }

  async onSharedDispatch(group: string, filter: string, message: Message, options?: SharedDispatchOptions): Promise<boolean> {
    this.shared.push({ group, filter, message, onlineOnly: options?.onlineOnly === true, member: options?.member });
    if (group === 'explodes') throw new Error('no such group');
    return group !== 'empty';
  }

  /** Route versions asked for; versions up to `appliedVersion` are applied at once, others never. */
  readonly routeWaits: Array<{ version: number; timeoutMs: number }> = [];
  appliedVersion = 0;

  async onAwaitRoutes(version: number, timeoutMs: number): Promise<boolean> {
    this.routeWaits.push({ version, timeoutMs });
    return version <= this.appliedVersion;
  }

  messages(): Message[] {
    return this.batches.flatMap((batch) => batch.messages);
  }

  /** Resolves once `count` batches have arrived (at once when they already have). */
  async waitForBatches(count: number): Promise<void> {
    while (this.batches.length < count) await once(this.events, 'batch');
  }

  /** Resolves once `count` messages have arrived. */
  async waitForMessages(count: number): Promise<void> {
    while (this.messages().length < count) await once(this.events, 'batch');
  }
}

export interface Started {
  transport: GrpcClusterTransport;
  address: string;
  handlers: RecordingHandlers;
}

const running = new Set<GrpcClusterTransport>();

export async function startTransport(
  nodeId: string,
  options: Partial<GrpcClusterTransportOptions> = {},
  handlers = new RecordingHandlers(),
): Promise<Started> {
  const transport = new GrpcClusterTransport({ nodeId, host: '127.0.0.1', port: 0, drainTimeoutMs: 200, ...options });
  running.add(transport);
  const { address } = await transport.start(handlers);
  return { transport, address, handlers };
}

export async function stopAll(): Promise<void> {
  await Promise.allSettled([...running].map((transport) => transport.stop()));
  running.clear();
}

/** A port nothing listens on: bound once by the OS, then released. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export function message(topic: string, payload = topic): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false };
}
