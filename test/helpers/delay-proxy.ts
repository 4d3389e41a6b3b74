// A TCP proxy on loopback that holds every chunk for a while before passing it on, in both
// directions and in order: a node that reaches Redis through it sits "farther from Redis"
// than its peers, as in a second zone.
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** A fixed delay in ms, or [min, max] for a delay drawn per chunk (order is kept anyway). */
export type Delay = number | readonly [number, number];

export interface DelayProxy {
  /** `redis://127.0.0.1:<port>` when the target is a Redis URL, else `tcp://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Changes the delay of chunks arriving from now on. */
  setDelay(delay: Delay): void;
  /** Resolves when the next chunk from a client (towards the target) arrives at the proxy. */
  nextChunk(): Promise<void>;
  /**
   * Drops every chunk not yet passed on and destroys the proxied connections, still listening:
   * what a node was writing when it died never arrives.
   */
  sever(): void;
  /** Stops listening and destroys every proxied connection. */
  stop(): Promise<void>;
}

/**
 * One direction of a proxied connection: chunks wait in a FIFO until their time is due, so a
 * shorter delay drawn for a later chunk never lets it overtake an earlier one.
 */
class DelayedPipe {
  private readonly queue: Array<{ due: number; chunk: Buffer | null }> = [];
  private timer: NodeJS.Timeout | undefined;
  private lastDue = 0;
  private readonly from: Socket;
  private readonly to: Socket;
  private readonly delay: () => number;

  constructor(from: Socket, to: Socket, delay: () => number) {
    this.from = from;
    this.to = to;
    this.delay = delay;
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => this.push(null)); // a half-close travels with the same delay
  }

  private push(chunk: Buffer | null): void {
    this.lastDue = Math.max(this.lastDue, Date.now() + this.delay());
    this.queue.push({ due: this.lastDue, chunk });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.release(), Math.max(0, this.queue[0]!.due - Date.now()));
  }

  private release(): void {
    this.timer = undefined;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      const { chunk } = this.queue.shift()!;
      if (this.to.destroyed) continue;
      if (chunk === null) {
        this.to.end();
        continue;
      }
      // Push back on the sender while the receiver's buffer is full.
      if (!this.to.write(chunk) && !this.from.isPaused()) {
        this.from.pause();
        this.to.once('drain', () => this.from.resume());
      }
    }
    this.schedule();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

function drawDelay(delay: Delay): number {
  if (typeof delay === 'number') return delay;
  const [min, max] = delay;
  return min + Math.random() * (max - min);
}

/** Starts a proxy to `target` (`redis://host:port` or `host:port`) on an ephemeral loopback port. */
export async function startDelayProxy(target: string, delay: Delay): Promise<DelayProxy> {
  const parsed = new URL(target.includes('://') ? target : `tcp://${target}`);
  const targetHost = parsed.hostname;
  const targetPort = Number(parsed.port);
  let current = delay;
  const sockets = new Set<Socket>();
  const pipes = new Set<DelayedPipe>();
  let chunkWaiters: Array<() => void> = [];
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // either side failing ends both, below
  };

  // Half-open on both sides, so a FIN is passed on after the data before it, and 'close' means
  // both directions are done.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    track(client);
    client.setNoDelay(true);
    client.on('data', () => {
      const waiting = chunkWaiters;
      chunkWaiters = [];
      for (const wake of waiting) wake();
    });
    const upstream = createConnection({ host: targetHost, port: targetPort, allowHalfOpen: true });
    track(upstream);
    upstream.setNoDelay(true);
    const both = [new DelayedPipe(client, upstream, () => drawDelay(current)), new DelayedPipe(upstream, client, () => drawDelay(current))];
    for (const pipe of both) pipes.add(pipe);
    const teardown = () => {
      for (const pipe of both) {
        pipe.close();
        pipes.delete(pipe);
      }
      client.destroy();
      upstream.destroy();
    };
    client.once('close', teardown);
    upstream.once('close', teardown);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('delay proxy: no TCP address');
  const scheme = parsed.protocol === 'redis:' ? 'redis' : 'tcp';
  const sever = () => {
    for (const pipe of pipes) pipe.close();
    pipes.clear();
    for (const socket of sockets) socket.destroy();
  };

  return {
    url: `${scheme}://127.0.0.1:${address.port}`,
    port: address.port,
    setDelay(next) {
      current = next;
    },
    nextChunk() {
      return new Promise((resolve) => chunkWaiters.push(resolve));
    },
    sever,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      sever();
      await closed;
    },
  };
}
