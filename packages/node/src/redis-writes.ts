// A turn's Redis commands leave in one write. ioredis writes each command to its socket as it
// sends it: a cluster CONNECT sends four, and with 500 CONNECTs in flight the write of each
// (a syscall inside writeUtf8String) was the largest single item of the node's CPU profile
// (docs/benchmarks.md). Corked from the first command of a turn, as the MQTT sockets are
// (connection.ts), the socket sends the turn's commands in one writev, and Redis reads them
// in fewer reads.
import type { Socket } from 'node:net';
import type { Redis } from 'ioredis';

type Command = Parameters<Redis['sendCommand']>[0];

/** Corks the socket `redis` writes to at the first command of a turn; the turn's end uncorks it. */
export function coalesceRedisWrites(redis: Redis): void {
  const send = redis.sendCommand.bind(redis);
  let corked: Socket | undefined;
  const uncork = () => {
    const socket = corked;
    corked = undefined;
    socket?.uncork();
  };
  redis.sendCommand = (command: Command, stream) => {
    // `stream` is given only for commands ioredis writes elsewhere (a pipeline's own buffer).
    if (corked === undefined && stream === undefined) {
      // The current connection's socket; ioredis replaces it on reconnect, so it is read per turn.
      const socket = (redis as unknown as { stream?: Socket }).stream;
      if (socket?.writable) {
        corked = socket;
        socket.cork();
        process.nextTick(uncork);
      }
    }
    return send(command, stream);
  };
}
