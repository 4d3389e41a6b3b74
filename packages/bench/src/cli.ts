#!/usr/bin/env node
// roost-bench: parses the options, runs each scenario through the coordinator (which forks
// the load-generating workers), prints one result per scenario.
import { BenchError } from './client.ts';
import { formatHelp, parseOptions } from './options.ts';
import { ProgressLine, summaryLine } from './progress.ts';
import { runScenario } from './scenarios.ts';

async function main(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof BenchError)) throw error;
    process.stderr.write(`roost-bench: ${error.message}\n(roost-bench --help lists scenarios and options)\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${formatHelp()}\n`);
    return 0;
  }
  const progress = options.progress || process.stderr.isTTY ? new ProgressLine(process.stderr) : undefined;
  let failed = false;
  for (const scenario of options.scenarios) {
    try {
      const result = await runScenario(scenario, options, { onProgress: progress && ((name, p) => progress.update(name, p)) });
      progress?.end();
      process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `${summaryLine(result)}\n`);
      if (result.errors > 0) failed = true;
    } catch (error) {
      progress?.end();
      failed = true;
      const message = error instanceof Error ? error.message : String(error);
      if (options.json) process.stdout.write(`${JSON.stringify({ scenario, broker: options.label, failed: message })}\n`);
      process.stderr.write(`roost-bench: ${scenario}: ${message}\n`);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
