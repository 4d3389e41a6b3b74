// The command line as a user runs it: --help, bad options, and a --json run end to end.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SCENARIOS } from '../src/scenario-names.ts';
import { startBroker, type TestBroker } from './helpers.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('roost-bench command line', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker.stop());

  it('--help exits 0 and names every scenario and the main options', async () => {
    const { code, stdout } = await cli(['--help']);
    assert.equal(code, 0);
    for (const name of Object.keys(SCENARIOS)) assert.match(stdout, new RegExp(`^  ${name} `, 'm'), name);
    for (const option of ['--url', '--duration', '--count', '--publishers', '--subscribers', '--qos', '--rate', '--window', '--payload', '--workers', '--json', '--pid', '--http', '--pub-url', '--sub-url']) {
      assert.ok(stdout.includes(option), option);
    }
  });

  it('rejects unknown scenarios and out-of-bounds numbers with exit code 2', async () => {
    for (const args of [['--scenario', 'nope'], ['--duration', '0'], ['--duration', '601'], ['--qos', '3'], ['--count', '-1'], ['--bogus']]) {
      const { code, stderr } = await cli(args);
      assert.equal(code, 2, args.join(' '));
      assert.match(stderr, /roost-bench: /);
    }
  });

  it('--json prints one result line per scenario', async () => {
    const { code, stdout } = await cli(['--url', broker.url, '--scenario', 'fan-in,qos1', '--count', '100', '--publishers', '2', '--duration', '2', '--json']);
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => l.scenario), ['fan-in', 'qos1']);
    for (const line of lines) {
      assert.equal(line.messages, 200);
      assert.equal(line.errors, 0);
      for (const key of ['broker', 'rate', 'p50_ms', 'p99_ms', 'p999_ms']) assert.ok(key in line, key);
    }
  });
});
