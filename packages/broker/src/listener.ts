import { createServer, type Server, type Socket } from 'node:net';
import { ReasonCode } from '@roost/protocol';
import { Connection, type ConnectionHost } from './connection.ts';
import type { ListenOptions } from './options.ts';
import type { BrokerStats } from './stats.ts';

/**
 * The node's listening sockets and every open connection, CONNECTed or not: accepts them,
 * enforces the CONNECT deadline and keep alive with one sweep, and closes them on shutdown.
 */
export class Listener {
  private readonly host: ConnectionHost;
  private readonly stats: BrokerStats;
  private readonly servers: Server[] = [];
  private readonly open = new Set<Connection>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(host: ConnectionHost, stats: BrokerStats) {
    this.host = host;
    this.stats = stats;
  }

  async listen(options: ListenOptions): Promise<{ port: number }> {
    // TCP_NODELAY set by the server on accept: a JS call per connection less than setNoDelay.
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.servers.push(server);
    if (!this.sweepTimer) {
      // One sweep for all connections instead of a timer each.
      this.sweepTimer = setInterval(() => this.sweep(), 500);
      this.sweepTimer.unref();
    }
    const address = server.address();
    return { port: typeof address === 'object' && address ? address.port : options.port };
  }

  accept(socket: Socket): void {
    this.stats.connectionsAccepted++;
    this.open.add(new Connection(socket, this.host));
  }

  /** The connection closed: it is no longer swept or told about shutdown. */
  closed(connection: Connection): void {
    this.open.delete(connection);
  }

  /**
   * Stops accepting and tells every client the server is shutting down, at once; resolves
   * when the servers have closed.
   */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    const closing = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const connection of [...this.open]) connection.disconnect(ReasonCode.ServerShuttingDown, 'server shutting down');
    await Promise.all(closing);
  }

  /** Keep alive at 1.5x [MQTT-3.1.2-22], and the CONNECT deadline for silent sockets. */
  private sweep(): void {
    const now = Date.now();
    const connectDeadline = this.host.ctx.limits.connectTimeout * 1000;
    for (const connection of this.open) {
      const { channel } = connection;
      if (channel.state === 'awaiting-connect' && now - connection.openedAt > connectDeadline) {
        connection.fail(ReasonCode.MaximumConnectTime, 'no CONNECT in time');
      } else if (channel.keepAlive > 0 && now - connection.lastActivity > channel.keepAlive * 1500) {
        connection.disconnect(ReasonCode.KeepAliveTimeout, 'keep alive timeout');
      }
    }
  }
}
