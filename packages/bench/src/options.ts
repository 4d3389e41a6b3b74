// Command-line options: parsed with node:util parseArgs, every number bounded, defaults per
// scenario. The help text is built from the same table.
import { parseArgs } from 'node:util';
import { BenchError, type TransportOptions } from './client.ts';
import type { QoS } from './packets.ts';
import { isScenario, SCENARIOS, type ScenarioName } from './scenario-names.ts';

export interface BenchOptions {
  scenarios: ScenarioName[];
  url: string;
  pubUrl: string;
  subUrl: string;
  label: string;
  /** --tls, --ws, --ca: how every connection reaches the broker. */
  transport: TransportOptions;
  durationS: number;
  /** undefined: the scenario's default. */
  count?: number;
  publishers?: number;
  subscribers?: number;
  qos?: QoS;
  rate?: number;
  window?: number;
  payload: number;
  workers?: number;
  timeoutS: number;
  pid?: number;
  http?: string;
  sources: string[];
  json: boolean;
  progress: boolean;
  help: boolean;
}

interface NumberSpec {
  min: number;
  max: number;
  integer: boolean;
}

const OPTIONS = {
  scenario: { type: 'string', short: 's', default: 'fan-in', help: `scenario, or several separated by commas (${Object.keys(SCENARIOS).join(', ')})` },
  url: { type: 'string', short: 'u', help: 'broker URL mqtt://host:port (default mqtt://127.0.0.1:1883)' },
  host: { type: 'string', help: 'broker host (overrides the URL\'s)' },
  port: { type: 'string', short: 'p', help: 'broker port (overrides the URL\'s)' },
  'pub-url': { type: 'string', help: 'publishers connect here (default --url); cross-node needs it' },
  'sub-url': { type: 'string', help: 'subscribers connect here (default --url); cross-node needs it' },
  label: { type: 'string', help: 'broker name in the results (default the URL)' },
  tls: { type: 'boolean', default: false, help: 'connect over TLS (also mqtts:// or wss:// in the URL); the certificate is verified against --ca' },
  ca: { type: 'string', help: 'PEM CA file that the broker certificate is verified against (default the system CAs)' },
  username: { type: 'string', help: 'user name in every CONNECT (default none)' },
  password: { type: 'string', help: 'password in every CONNECT (default none)' },
  ws: { type: 'boolean', default: false, help: 'MQTT over WebSocket, subprotocol mqtt, on the URL\'s path (default /mqtt); also ws:// or wss:// in the URL' },
  duration: { type: 'string', short: 'd', default: '10', help: 'seconds of publishing, 0.1..600 (flood and latency scenarios)' },
  count: { type: 'string', short: 'n', help: 'messages per publisher (0: until --duration ends); connections for idle; N for retained and session (1..1000000)' },
  publishers: { type: 'string', help: 'publisher connections, 1..10000 (default 10 fan-in and cross-node, else 1)' },
  subscribers: { type: 'string', help: 'subscriber connections, 1..10000 (default 100 fan-out, else 1)' },
  qos: { type: 'string', help: 'QoS 0, 1 or 2 (default 0; qos1 and qos2 set their own)' },
  rate: { type: 'string', short: 'r', help: 'messages per second over all publishers, 0 floods (default 1000 for latency, else 0)' },
  window: { type: 'string', short: 'w', help: 'bound on deliveries not yet made of each worker\'s messages (fan-out: a message is one per subscriber), and on un-acked QoS 1/2 publishes per publisher (default 1000); connects in flight for idle (default 100); 1..60000' },
  payload: { type: 'string', default: '64', help: 'payload bytes, 16..1048576 (16 carry the send time and source)' },
  workers: { type: 'string', help: 'load-generating worker processes, 1..16 (default 2 for fan-in, fan-out, qos1, qos2, cross-node; else 1)' },
  timeout: { type: 'string', default: '60', help: 'seconds allowed for setup, drain and each timed sequence (1..3600)' },
  pid: { type: 'string', help: 'broker process id: idle reads its VmRSS from /proc/<pid>/status before and after' },
  http: { type: 'string', help: 'broker metrics URL (Roost: http://host:port/metrics): idle reads process_resident_memory_bytes before and after' },
  source: { type: 'string', help: 'idle: source addresses to connect from, in turn, separated by commas (127.0.0.2,127.0.0.3: ~28k connections each to one broker port)' },
  json: { type: 'boolean', default: false, help: 'one JSON line per result on stdout (otherwise a short summary)' },
  progress: { type: 'boolean', default: false, help: 'a progress line on stderr every second even when stderr is not a TTY' },
  help: { type: 'boolean', short: 'h', default: false, help: 'this text' },
} as const;

const NUMBERS: Record<string, NumberSpec> = {
  duration: { min: 0.1, max: 600, integer: false },
  count: { min: 0, max: 1_000_000, integer: true },
  publishers: { min: 1, max: 10_000, integer: true },
  subscribers: { min: 1, max: 10_000, integer: true },
  qos: { min: 0, max: 2, integer: true },
  rate: { min: 0, max: 10_000_000, integer: false },
  window: { min: 1, max: 60_000, integer: true },
  payload: { min: 16, max: 1_048_576, integer: true },
  workers: { min: 1, max: 16, integer: true },
  timeout: { min: 1, max: 3600, integer: false },
  pid: { min: 1, max: 2 ** 22, integer: true },
  port: { min: 1, max: 65535, integer: true },
};

function numberOption(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const spec = NUMBERS[name]!;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || (spec.integer && !Number.isInteger(value)) || value < spec.min || value > spec.max) {
    throw new BenchError(`--${name} must be ${spec.integer ? 'an integer' : 'a number'} in ${spec.min}..${spec.max}, not ${JSON.stringify(raw)}`);
  }
  return value;
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  const config = Object.fromEntries(Object.entries(OPTIONS).map(([name, { help: _help, ...spec }]) => [name, spec]));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new BenchError((error as Error).message);
  }
  const str = (name: string) => values[name] as string | undefined;
  const num = (name: string) => numberOption(name, str(name));

  const scenarios = str('scenario')!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of scenarios) if (!isScenario(name)) throw new BenchError(`unknown scenario ${JSON.stringify(name)} (one of ${Object.keys(SCENARIOS).join(', ')})`);
  if (scenarios.length === 0) throw new BenchError('--scenario names no scenario');

  const base = new URL(str('url') ?? 'mqtt://127.0.0.1:1883');
  if (str('host') !== undefined) base.hostname = str('host')!;
  const port = num('port');
  if (port !== undefined) base.port = String(port);
  const url = base.toString().replace(/\/$/, '');
  if (scenarios.includes('cross-node') && (str('pub-url') === undefined || str('sub-url') === undefined)) {
    throw new BenchError('cross-node needs --pub-url and --sub-url (two nodes of one cluster)');
  }
  return {
    scenarios: scenarios as ScenarioName[],
    url,
    pubUrl: str('pub-url') ?? url,
    subUrl: str('sub-url') ?? url,
    label: str('label') ?? (str('pub-url') !== undefined || str('sub-url') !== undefined ? `${str('pub-url') ?? url} -> ${str('sub-url') ?? url}` : url),
    transport: {
      tls: values.tls === true,
      ws: values.ws === true,
      ...(str('ca') !== undefined ? { caFile: str('ca') } : {}),
      ...(str('username') !== undefined || str('password') !== undefined ? { credentials: { username: str('username'), password: str('password') } } : {}),
    },
    durationS: num('duration')!,
    count: num('count'),
    publishers: num('publishers'),
    subscribers: num('subscribers'),
    qos: num('qos') as QoS | undefined,
    rate: num('rate'),
    window: num('window'),
    payload: num('payload')!,
    workers: num('workers'),
    timeoutS: num('timeout')!,
    pid: num('pid'),
    http: str('http'),
    sources: (str('source') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    json: values.json === true,
    progress: values.progress === true,
    help: values.help === true,
  };
}

export function formatHelp(): string {
  const lines = [
    'roost-bench: MQTT load generator (MQTT 3.1.1 over TCP, TLS or WebSocket; load runs in worker processes)',
    '',
    'usage: roost-bench --scenario <name>[,<name>...] [--url mqtt://host:port] [options]',
    '',
    'scenarios:',
    ...Object.entries(SCENARIOS).map(([name, text]) => `  ${name.padEnd(12)} ${text}`),
    '',
    'options:',
    ...Object.entries(OPTIONS).map(([name, spec]) => {
      const flag = `${'short' in spec ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ' <v>' : ''}`;
      const fallback = 'default' in spec && spec.type === 'string' ? ` (default ${spec.default})` : '';
      return `  ${flag.padEnd(22)} ${spec.help}${fallback}`;
    }),
    '',
    'output: one JSON line per scenario with --json: {"scenario","broker","messages","rate","p50_ms","p99_ms",',
    '  "p999_ms","errors",...}; latencies are end to end, from the send time in the payload.',
    'Flood scenarios keep each worker at most --window messages ahead of its deliveries, so',
    'latency under load measures the broker, not a queue in the bench.',
  ];
  return lines.join('\n');
}
