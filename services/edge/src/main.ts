// The edge process: configuration in, run() out. Everything else lives in packages/.
import { ConfigError } from '@roost/protocol';
import { formatHelp, loadConfig, run } from '@roost/node';

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
  const controller = new AbortController();
  let node;
  try {
    node = await run(config, { signal: controller.signal });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`roost: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`roost: cannot start: ${(error as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = () => resolve();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  controller.abort();
  await node.stop();
  return 0;
}

process.exitCode = await main();
