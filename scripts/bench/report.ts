// docs/benchmarks.md and docs/bench/*.svg from one bench:compare run: a table per scenario
// with every broker's figure and its ratio against Mosquitto from the same run, bar charts,
// the targets of issue #4, the machine, versions and settings.
import { mkdirSync, writeFileSync } from 'node:fs';
import { PLAN, FLOOD_SECONDS, type PlannedRun } from './plan.ts';

export type RunResult = Record<string, unknown>;
/** run id -> broker name -> result line (or {failed}). */
export type Results = Record<string, Record<string, RunResult>>;

export interface Environment {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  loadBefore: string;
  loadAfter: string;
  versions: Record<string, string>;
  settings: Record<string, string>;
  elapsedS: number;
}

const BROKER_ORDER = ['mosquitto', 'roost', 'aedes', 'roost-cluster', 'aedes-redis'];
const COLORS: Record<string, string> = { mosquitto: '#6b7280', roost: '#d97706', aedes: '#2563eb', 'roost-cluster': '#b45309', 'aedes-redis': '#1e40af' };

function figure(result: RunResult | undefined, key: string): number | undefined {
  const value = result?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function baselineOf(results: Results, run: PlannedRun): number | undefined {
  return figure(results[run.baseline ?? run.id]?.mosquitto, run.metric);
}

function ratio(value: number | undefined, base: number | undefined): number | undefined {
  return value === undefined || base === undefined || base === 0 ? undefined : value / base;
}

function fmt(value: unknown): string {
  if (typeof value !== 'number') return value === undefined || value === null ? '–' : String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value < 10 ? value.toFixed(3) : value.toFixed(1);
}

function fmtRatio(value: number | undefined): string {
  return value === undefined ? '–' : `${value.toFixed(2)}x`;
}

function brokersOf(results: Results, run: PlannedRun): string[] {
  return BROKER_ORDER.filter((name) => results[run.id]?.[name] !== undefined);
}

function table(results: Results, run: PlannedRun): string {
  const base = baselineOf(results, run);
  const header = ['broker', `${run.metric} (${run.unit})`, `x Mosquitto${run.baseline ? ` ${run.baseline}` : ''} (${run.better} is better)`, ...run.columns, 'errors'];
  const rows = brokersOf(results, run).map((name) => {
    const result = results[run.id]![name]!;
    if (typeof result.failed === 'string') return [name, `failed: ${result.failed}`, '–', ...run.columns.map(() => '–'), '–'];
    const value = figure(result, run.metric);
    const incomplete = typeof result.missing === 'number' ? ` (incomplete: ${fmt(result.messages)} of ${fmt(result.count)} arrived)` : '';
    return [name, `${fmt(value)}${incomplete}`, fmtRatio(ratio(value, base)), ...run.columns.map((c) => fmt(result[c])), fmt(result.errors)];
  });
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A horizontal bar per broker, labelled with the figure and its ratio against Mosquitto. */
function chart(results: Results, run: PlannedRun): string {
  const base = baselineOf(results, run);
  const bars = brokersOf(results, run).flatMap((name) => {
    const value = figure(results[run.id]![name], run.metric);
    return value === undefined ? [] : [{ name, value }];
  });
  if (run.baseline && base !== undefined && !bars.some((b) => b.name === 'mosquitto')) bars.unshift({ name: `mosquitto (${run.baseline})`, value: base });
  const width = 720;
  const labelWidth = 170;
  const barArea = width - labelWidth - 190;
  const rowHeight = 30;
  const top = 40;
  const height = top + bars.length * rowHeight + 20;
  const max = Math.max(...bars.map((b) => b.value), 1e-9);
  const rows = bars.map((bar, i) => {
    const y = top + i * rowHeight;
    const length = Math.max(1, (bar.value / max) * barArea);
    const color = COLORS[bar.name] ?? COLORS.mosquitto!;
    const label = `${fmt(bar.value)} ${run.unit} (${fmtRatio(ratio(bar.value, base))})`;
    return [
      `<text x="${labelWidth - 8}" y="${y + 19}" text-anchor="end">${escapeXml(bar.name)}</text>`,
      `<rect x="${labelWidth}" y="${y + 5}" width="${length.toFixed(1)}" height="20" fill="${color}"/>`,
      `<text x="${(labelWidth + length + 6).toFixed(1)}" y="${y + 19}">${escapeXml(label)}</text>`,
    ].join('');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-weight="bold">${escapeXml(`${run.title}: ${run.metric}, ${run.better} is better`)}</text>`,
    ...rows,
    '</svg>',
  ].join('\n');
}

interface TargetRow {
  target: string;
  measured: string;
  met: boolean | undefined;
}

function targets(results: Results): TargetRow[] {
  const get = (id: string, broker: string, key: string) => figure(results[id]?.[broker], key);
  const rel = (id: string, broker: string, key: string, baseId = id) => ratio(get(id, broker, key), get(baseId, 'mosquitto', key));
  const row = (target: string, value: number | undefined, ok: (v: number) => boolean, show: (v: number) => string): TargetRow => ({
    target,
    measured: value === undefined ? 'not measured' : show(value),
    met: value === undefined ? undefined : ok(value),
  });
  const x = (v: number) => `${v.toFixed(2)}x`;
  return [
    row('fan-in QoS 0 >= 1.0x Mosquitto', rel('fan-in', 'roost', 'rate'), (v) => v >= 1, x),
    row('fan-out QoS 0 >= 1.0x Mosquitto', rel('fan-out', 'roost', 'rate'), (v) => v >= 1, x),
    row('QoS 1 throughput >= 1.0x Mosquitto', rel('qos1', 'roost', 'rate'), (v) => v >= 1, x),
    row('latency at 1k msg/s: p50 within 1.5x Mosquitto', rel('latency', 'roost', 'p50_ms'), (v) => v <= 1.5, x),
    row('latency at 1k msg/s: p99 under 2 ms', get('latency', 'roost', 'p99_ms'), (v) => v < 2, (v) => `${v.toFixed(3)} ms (Mosquitto ${fmt(get('latency', 'mosquitto', 'p99_ms'))} ms)`),
    row('<= 5 KB broker memory per idle connection', get('idle', 'roost', 'bytes_per_connection'), (v) => v <= 5120, (v) => `${fmt(v)} bytes (Mosquitto ${fmt(get('idle', 'mosquitto', 'bytes_per_connection'))})`),
    row('10k connections established at least as fast as Mosquitto', rel('idle', 'roost', 'connect_ms'), (v) => v <= 1, (v) => `${x(v)} Mosquitto's time`),
    row('cross-node fan-in >= 0.5x Mosquitto single-node fan-in', ratio(get('cross-node', 'roost-cluster', 'rate'), get('fan-in', 'mosquitto', 'rate')), (v) => v >= 0.5, x),
    retained100k(results),
  ];
}

function retained100k(results: Results): TargetRow {
  const target = 'wildcard subscribe over 100k retained, cluster: under 1 s';
  const result = results['retained-100k']?.['roost-cluster'];
  const ms = figure(result, 'lookup_ms');
  if (ms === undefined) return { target, measured: 'not measured', met: undefined };
  if (typeof result?.missing === 'number') {
    return { target, measured: `incomplete: ${fmt(result.messages)} of ${fmt(result.count)} arrived (the last after ${fmt(ms)} ms; QoS 0 lookup, the rest dropped)`, met: false };
  }
  return { target, measured: `${fmt(ms)} ms`, met: ms < 1000 };
}

function notes(results: Results): string[] {
  const lines: string[] = [];
  for (const run of PLAN) {
    if (run.reuse) continue;
    for (const [broker, result] of Object.entries(results[run.id] ?? {})) {
      if (typeof result.failed === 'string') lines.push(`- ${run.id} on ${broker} failed: ${result.failed}`);
      else if (Number(result.lost ?? 0) > 0 || Number(result.errors) > 0 || Number(result.missing ?? 0) > 0) {
        lines.push(`- ${run.id} on ${broker}: ${fmt(result.errors)} errors, ${fmt(result.lost ?? result.missing ?? 0)} messages not delivered${Array.isArray(result.error_samples) ? ` (${(result.error_samples as string[]).join('; ')})` : ''}`);
      }
    }
  }
  return lines;
}

export function writeReport(root: URL, env: Environment, results: Results): void {
  mkdirSync(new URL('docs/bench/', root), { recursive: true });
  const sections = PLAN.filter((run) => Object.keys(results[run.id] ?? {}).length > 0).map((run) => {
    const svg = `bench/${run.id}.svg`;
    writeFileSync(new URL(`docs/${svg}`, root), `${chart(results, run)}\n`);
    return [`### ${run.title}`, '', table(results, run), '', `![${run.id}](${svg})`, ''].join('\n');
  });
  const targetRows = targets(results).map((t) => `| ${t.target} | ${t.measured} | ${t.met === undefined ? '–' : t.met ? 'yes' : 'no'} |`);
  const problems = notes(results);
  const markdown = [
    '# Benchmarks',
    '',
    `Generated by \`npm run bench:compare\` (scripts/bench-compare.ts) on ${env.date}, in ${env.elapsedS} s. Raw result lines: [bench/results.json](bench/results.json).`,
    '',
    'Every broker ran on this one machine, on loopback, one after another, driven by the same `roost-bench` (packages/bench) with the same options; the load runs in worker processes beside the broker, so the bench competes with the broker for the same cores. **On this shared, noisy 2-core machine bare times and rates are not claims: read the ratios against Mosquitto measured in the same run.** A rerun moves single figures by 10-30%.',
    '',
    '## Machine',
    '',
    `- CPU: ${env.cpu}, ${env.cores} cores; ${env.memoryGiB} GiB memory`,
    `- load average (1, 5, 15 min) before the run: ${env.loadBefore}; after: ${env.loadAfter}. Other agents' test suites may have been running on this machine at the same time.`,
    '',
    '## Versions',
    '',
    ...Object.entries(env.versions).map(([name, v]) => `- ${name}: ${v}`),
    '',
    '## Settings',
    '',
    `- roost-bench: MQTT 3.1.1, 64-byte payloads, flood scenarios ${FLOOD_SECONDS} s each with a window of 1000 deliveries per worker (2 workers unless one connection each side), latency at a fixed 1000 msg/s with publisher and subscriber in one worker, idle: 10000 connections 100 connects in flight, memory from /proc/<pid>/status VmRSS before and after (1 s settle).`,
    ...Object.entries(env.settings).map(([name, s]) => `- ${name}: ${s}`),
    '',
    '## Targets of issue #4 (Roost)',
    '',
    '| target | measured | met |',
    '|---|---|---|',
    ...targetRows,
    '',
    'QoS 1 across nodes "with no Redis round trip per message for online subscribers" is a property of the code path, not a figure; the cross-node QoS 1 table below shows its throughput.',
    '',
    '## Results',
    '',
    ...sections,
    '## Notes',
    '',
    '- Latency is end to end: the publisher writes its send time (wall clock with sub-millisecond precision, shared by the worker processes) into the payload; the subscriber records arrival minus send time in an HDR histogram (perf_hooks). Under flood the window bounds it (Little\'s law: about window / rate), so flood latencies compare brokers at the same window, not absolute responsiveness.',
    '- The load generator shares the 2 cores with the broker under test: at the highest rates it, not the broker, can be the bound (a CPU profile of Roost under the qos1 scenario showed it idle 61% of the time).',
    '- Mosquitto 2.0.11 with its default `max_inflight_messages 20` stops delivering queued outgoing QoS 2 messages once its in-flight slots fill at the end of a burst (reproduced with MQTT.js: 500 QoS 2 publishes, 20 delivered); its qos2 row therefore may show lost messages. With `max_inflight_messages 1000` the stall disappears; the comparison keeps the default.',
    '- Aedes in Redis mode runs as two processes on one Redis (aedes-persistence-redis, mqemitter-redis); both install and run on Node 24.',
    '- Establishing connections is within the noise of this machine: three compare runs on 2026-11-26 put Roost at 0.66x, 0.95x and 1.20x Mosquitto\'s time. It costs about 0.12 ms of broker CPU per connection, spread over socket setup (setNoDelay, the CONNACK writev), a parser per connection (mqtt-packet, ~7 µs) and its CONNECT parse (~15 µs), and GC (11% of the profile). A lighter per-connection parser and lazily built channel state would move it.',
    '- A Roost node\'s resident set at rest (rss_before_bytes in results.json) is mostly Node itself, its TypeScript type stripping (a WebAssembly SWC loaded at start) and, in cluster mode, ioredis and gRPC; bytes per connection is the growth after 10000 connections, not the total. Running compiled JavaScript would remove the type stripper (not measured).',
    '',
    '## The performance pass',
    '',
    'Each change with the figure it moved when it landed (same-run ratios against Mosquitto):',
    '',
    '- A PUBLISH is encoded once per message and wire variant; QoS 1/2 copies get their packet id patched in. With writes coalesced per event-loop turn (cork, one writev), QoS 0 fan-out to 100 subscribers went from about 0.6x to about 3x Mosquitto.',
    '- The encodings hang off the message under a symbol rather than in a WeakMap, which had doubled the encode cost of a message with one subscriber (1.3 vs 0.55 µs): fan-in QoS 0 went from 1.05x to 1.25-1.5x Mosquitto.',
    '- A connection\'s packets are pipelined: routing happens at once, in order; each ack waits only for its own durability, in order. Cross-node QoS 1 went from 0.12x to about 0.96x Mosquitto\'s single-node QoS 1.',
    '- QoS 0 forwards to peers go without a promise per message or a peer lookup: cross-node fan-in went from 0.55x to 0.58-0.74x Mosquitto\'s single-node fan-in.',
    '- The Redis session store writes a queue as its change (head trimmed, tail appended) rather than whole per tick: a cluster session drain of 1000 queued messages went from 5.8x to about 2.4-3.2x Mosquitto\'s time.',
    '- A retained replay waits for a slow reader\'s socket instead of dropping QoS 0 copies past the 4 MB backlog: the 100k wildcard lookup in cluster mode went from 42% delivered to all of them, in about 0.93 s.',
    '- Not done, measured first where it would go next: a trie match cache (matching is ~1.2M/s on 100k filters, not the bound in any scenario here); per-connection state is already small (under 300 bytes per idle connection).',
    ...(problems.length > 0 ? ['', 'Failures and losses in this run:', '', ...problems] : []),
    '',
  ].join('\n');
  writeFileSync(new URL('docs/benchmarks.md', root), markdown);
}
