// The edge process: configuration in, run() out. Everything else lives in packages/.
import './quiet-codec-trace.ts'; // first: before anything loads mqtt-packet
import { ConfigError } from '@roost/protocol';
import { formatHelp, loadConfig, run, type RunningNode } from '@roost/node';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`roost: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (config.help) {
    process.stdout.write(`${formatHelp()}\n`);
    return 0;
  }
  // Signals are heeded from the start: a node still waiting for Redis stops at once. The first
  // SIGTERM or SIGINT drains (ROOST_DRAIN_*); another one hurries the drain, which still
  // writes every session before the exit.
  const controller = new AbortController();
  let node: RunningNode | undefined;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = () => {
      if (controller.signal.aborted) return node?.hurry();
      controller.abort();
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    node = await run(config, { signal: controller.signal });
  } catch (error) {
    if (controller.signal.aborted) return 0;
    if (error instanceof ConfigError) {
      process.stderr.write(`roost: ${error.message}\n`);
      return 2;
    }
    // At once: a half-started node must not linger with its probes answering (run() closed
    // what it opened, but a stray handle would keep the process up and swallow SIGTERM).
    process.stderr.write(`roost: cannot start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  await stopped;
  await node.stop();
  return 0;
}

// A rejected promise nobody handled is a bug, but one that concerns one operation: logged (as
// a JSON line like the rest) and the node keeps serving its other clients, where Node's default
// would end the process and every connection on it.
process.on('unhandledRejection', (reason) => {
  const err = reason instanceof Error ? { type: reason.name, message: reason.message, stack: reason.stack } : { message: String(reason) };
  process.stdout.write(`${JSON.stringify({ level: 50, time: Date.now(), msg: 'unhandled rejection; serving on', err })}\n`);
});

process.exitCode = await main();
