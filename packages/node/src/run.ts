import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createBroker } from '@roost/broker';
import { ConfigError } from '@roost/protocol';
import type { Config } from './config.ts';
import { createHttpServer } from './http-server.ts';
import { createLogger } from './logger.ts';

export interface RunningNode {
  mqttPort: number;
  /** 0 when the HTTP server is off. */
  httpPort: number;
  stop(): Promise<void>;
}

const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Starts one node: the MQTT listener and the HTTP probes; stops when `signal` aborts. */
export async function run(config: Config, options: { signal?: AbortSignal } = {}): Promise<RunningNode> {
  if (config.redisUrl !== undefined) {
    throw new ConfigError('ROOST_REDIS_URL', 'cluster mode is not available in this build yet; unset it for embedded mode');
  }
  const logger = createLogger(config.logLevel, config.nodeId);
  const broker = createBroker({ nodeId: config.nodeId, version, logger, limits: config.limits, sysInterval: config.sysInterval });
  let listening = false;
  const http = config.httpPort > 0 ? createHttpServer({ ready: () => listening }) : undefined;

  const { port: mqttPort } = await broker.listen({ port: config.mqttPort, host: config.host });
  listening = true;
  let httpPort = 0;
  if (http) {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(config.httpPort, config.host, () => resolve());
    });
    httpPort = (http.address() as AddressInfo).port;
  }
  logger.info({ mqttPort, httpPort, mode: 'embedded', version }, 'roost listening');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      listening = false;
      logger.info({}, 'draining');
      await broker.stop();
      if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
      logger.info({}, 'stopped');
    })();
    return stopping;
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  return { mqttPort, httpPort, stop };
}
