// The edge process hands mqtt-packet a `debug` that does nothing unless DEBUG asks for traces
// (services/edge/src/quiet-codec-trace.ts); every other package keeps the real one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const HOOK = fileURLToPath(new URL('../../services/edge/src/quiet-codec-trace.ts', import.meta.url));

/** What `require('debug')` gives mqtt-packet and ioredis in a process that loaded the hook first, with `env`. */
async function debugSeen(env: Record<string, string>): Promise<{ codec: string; other: string }> {
  const script = `
    await import(${JSON.stringify(HOOK)});
    const { createRequire } = await import('node:module');
    const seen = (from) => { const trace = createRequire(createRequire(import.meta.url).resolve(from))('debug')('probe'); return String(trace.namespace); };
    console.log(JSON.stringify({ codec: seen('mqtt-packet'), other: seen('ioredis') }));
  `;
  const { DEBUG: _unset, ...rest } = process.env;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...rest, ...env }, cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  return JSON.parse(stdout) as { codec: string; other: string };
}

test('without DEBUG, mqtt-packet gets a trace function that does nothing; other packages keep the real debug', async () => {
  // The real debug's trace functions carry their namespace; the silent one has none.
  assert.deepEqual(await debugSeen({}), { codec: 'undefined', other: 'probe' });
});

test('with DEBUG set, mqtt-packet keeps the real debug, so its traces can be turned on', async () => {
  assert.deepEqual(await debugSeen({ DEBUG: 'mqtt-packet:*' }), { codec: 'probe', other: 'probe' });
});
