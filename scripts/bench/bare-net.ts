// What Node itself costs per idle connection: a bare node:net server (with npm start's V8
// flags) that answers each CONNECT with a CONNACK and holds the socket, measured with the
// flat-cost idle rows' own arguments (a fresh process per count, RSS growth). The flat-cost
// target's bound: Node's own first connections cost as much as Roost's. Prints figures,
// asserts nothing. Run: npm run bench:bare-net (npm run build first: the flags come from npm start)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { runScenario, parseOptions } from '../../packages/bench/src/index.ts';
import { freePort, roostStartArgs } from './brokers.ts';
import { FRESH_SETTLE_MS, PLAN } from './plan.ts';
import { FLAT_RUNS, figure } from './targets.ts';

const ROUNDS = 2;

const server = `
  const net = await import('node:net');
  const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
  const server = net.createServer((socket) => {
    socket.once('data', () => socket.write(CONNACK));
    socket.on('error', () => {});
  });
  server.listen(Number(process.env.BARE_PORT), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

async function measure(args: readonly string[]): Promise<number | undefined> {
  const port = await freePort();
  const flags = roostStartArgs().filter((arg) => arg.startsWith('--') && !arg.startsWith('--conditions'));
  const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', server], { env: { ...process.env, BARE_PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await once(child.stdout!, 'data');
    await delay(FRESH_SETTLE_MS);
    const options = parseOptions(['--scenario', 'idle', '--url', `mqtt://127.0.0.1:${port}`, '--timeout', '60', ...args, '--pid', String(child.pid)]);
    return figure(await runScenario('idle', options), 'bytes_per_connection');
  } finally {
    child.kill('SIGKILL');
  }
}

const rows: string[] = [];
for (const id of FLAT_RUNS) {
  const run = PLAN.find((planned) => planned.id === id)!;
  const count = run.args[run.args.indexOf('--count') + 1]!;
  const figures: string[] = [];
  for (let round = 0; round < ROUNDS; round++) figures.push((await measure(run.args))?.toLocaleString('en') ?? 'failed');
  rows.push(`| ${Number(count).toLocaleString('en')} | ${figures.join(' / ')} |`);
}
console.log('| idle connections | bare node:net, RSS growth per connection (bytes; fresh processes) |');
console.log('|---|---|');
for (const row of rows) console.log(row);
