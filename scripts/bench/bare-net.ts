// What Node itself costs per idle connection: a bare node:net server (with npm start's V8
// flags) that answers each CONNECT with a CONNACK and holds the socket, measured as the idle
// rows measure Roost (a fresh process per count, 500 connects in flight, RSS growth). The flat-
// cost target's bound: Node's own first connections cost as much as Roost's. Prints figures,
// asserts nothing. Run: npm run bench:bare-net (npm run build first: the flags come from npm start)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { runScenario, parseOptions } from '../../packages/bench/src/index.ts';
import { freePort, roostStartArgs } from './brokers.ts';
import { figure } from './targets.ts';

const ROUNDS = 2;
const COUNTS = [1000, 5000, 10000, 19000];
/** As the 19k idle row: more source addresses than one gives ports for, two workers. */
const WIDE = ['--workers', '2', '--source', '127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4', '--timeout', '120'];

const server = `
  const net = await import('node:net');
  const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
  const server = net.createServer((socket) => {
    socket.once('data', () => socket.write(CONNACK));
    socket.on('error', () => {});
  });
  server.listen(Number(process.env.BARE_PORT), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

async function measure(count: number): Promise<number | undefined> {
  const port = await freePort();
  const flags = roostStartArgs().filter((arg) => arg.startsWith('--') && !arg.startsWith('--conditions'));
  const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', server], { env: { ...process.env, BARE_PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await once(child.stdout!, 'data');
    await new Promise((resolve) => setTimeout(resolve, 2000)); // as the idle rows: the process settles first
    const args = ['--scenario', 'idle', '--url', `mqtt://127.0.0.1:${port}`, '--count', String(count), '--window', '500', '--pid', String(child.pid), ...(count > 10000 ? WIDE : [])];
    return figure(await runScenario('idle', parseOptions(args)), 'bytes_per_connection');
  } finally {
    child.kill('SIGKILL');
  }
}

const rows: string[] = [];
for (const count of COUNTS) {
  const figures: string[] = [];
  for (let round = 0; round < ROUNDS; round++) figures.push((await measure(count))?.toLocaleString('en') ?? 'failed');
  rows.push(`| ${count.toLocaleString('en')} | ${figures.join(' / ')} |`);
}
console.log('| idle connections | bare node:net, RSS growth per connection (bytes; fresh processes) |');
console.log('|---|---|');
for (const row of rows) console.log(row);
