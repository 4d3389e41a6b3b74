// What mqtt-packet's trace calls cost when no trace is on: parses a stream of QoS 1 PUBLISHes
// (64-byte payloads, 100 to a chunk) in fresh processes, with the real `debug` and with the
// silent one the edge process installs (services/edge/src/quiet-codec-trace.ts), rounds
// interleaved. Prints figures, asserts nothing. Run: npm run bench:codec
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROUNDS = 3;
const CHUNKS = 10_000;
const HOOK = fileURLToPath(new URL('../../services/edge/src/quiet-codec-trace.ts', import.meta.url));

const child = `
  if (process.env.ROOST_BENCH_SILENT) await import(${JSON.stringify(HOOK)});
  const { default: mqtt } = await import('mqtt-packet');
  const one = mqtt.generate({ cmd: 'publish', topic: 'bench/topic/1', payload: Buffer.alloc(64), qos: 1, messageId: 7 });
  const chunk = Buffer.concat(Array.from({ length: 100 }, () => one));
  const parser = mqtt.parser({ protocolVersion: 4 });
  let packets = 0;
  parser.on('packet', () => packets++);
  for (let i = 0; i < ${CHUNKS} / 5; i++) parser.parse(chunk); // warm-up
  packets = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < ${CHUNKS}; i++) parser.parse(chunk);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(packets / seconds);
`;

function rate(silent: boolean): number {
  const { DEBUG: _unset, ...env } = process.env;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...env, ...(silent ? { ROOST_BENCH_SILENT: '1' } : {}) } });
  return Number(out.toString().trim());
}

const rows: Array<[number, number]> = [];
for (let round = 0; round < ROUNDS; round++) rows.push([rate(false), rate(true)]);
console.log('| round | real debug (packets/s) | silent debug (packets/s) | ratio |');
console.log('|---|---|---|---|');
rows.forEach(([real, silent], i) => console.log(`| ${i + 1} | ${Math.round(real).toLocaleString('en')} | ${Math.round(silent).toLocaleString('en')} | ${(silent / real).toFixed(2)}x |`));
