// Redis command latency for /metrics. ioredis has no per-command event of its own that is cheap:
// its diagnostics channel builds a context with every argument stringified (a session's whole
// record), so the client's sendCommand is wrapped instead: a clock read and a settle callback
// per command, pipelined ones included (a pipeline sends each of its commands through it).
import type { Redis } from 'ioredis';
import { Distribution } from '@roost/broker';

/** Seconds: a loopback Redis answers in ~0.1 ms, one across a zone in ~1 ms; seconds mean trouble. */
const LATENCY_BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

type Command = Parameters<Redis['sendCommand']>[0];

/** A command sent again (from the offline queue, after a reconnect) is timed from its first send. */
const SENT_AT = Symbol('roost.sentAt');
type TimedCommand = Command & { [SENT_AT]?: number };

/** Times every command `redis` sends until it settles, replies and errors alike, into the returned histogram. */
export function timeRedisCommands(redis: Redis): Distribution {
  const latency = new Distribution(LATENCY_BOUNDS);
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command: TimedCommand, stream) => {
    if (command[SENT_AT] === undefined) {
      const sentAt = (command[SENT_AT] = performance.now());
      const settled = () => latency.observe((performance.now() - sentAt) / 1000);
      command.promise.then(settled, settled);
    }
    return send(command, stream);
  };
  return latency;
}
