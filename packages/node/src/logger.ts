import { pino } from 'pino';
import type { Logger } from '@roost/broker';
import type { LogLevel } from './config.ts';

/** JSON logs on stdout, each line tagged with the node id so a cluster's logs can be merged. */
export function createLogger(level: LogLevel, nodeId: string): Logger {
  return pino({ level, base: { node: nodeId } });
}
