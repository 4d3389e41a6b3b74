// docs/benchmarks.md and docs/bench/*.svg from one bench:compare run: a table per scenario
// with every broker's figure and its ratio against Mosquitto (or the row's baseline) from the
// same run, bar charts, the targets of issues #4, #13, #10 and #11, the machine, versions and settings.
import { mkdirSync, writeFileSync } from 'node:fs';
import { PLAN, FLOOD_SECONDS, type PlannedRun } from './plan.ts';
import { flatSection, whereMemoryGoes } from './memory-report.ts';
import { issue11Targets } from './security-targets.ts';
import { againstPlainRoost, figure, fmt, issue10Targets, issue13Targets, issue4Targets, ratio, type TargetRow } from './targets.ts';

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
  /** Set when only these rows were run again (`--only`); the others are from the run before. */
  partial?: string;
  /** With `partial`: when the full run whose other rows are kept ran, and the --only runs since. */
  fullRunDate?: string;
  earlierReruns?: string[];
}

const BROKER_ORDER = ['mosquitto', 'roost', 'aedes', 'roost-cluster', 'aedes-redis', 'roost-cluster-3'];
const COLORS: Record<string, string> = { mosquitto: '#6b7280', roost: '#d97706', aedes: '#2563eb', 'roost-cluster': '#b45309', 'aedes-redis': '#1e40af', 'roost-cluster-3': '#92400e' };

function baselineOf(results: Results, run: PlannedRun): number | undefined {
  // A row run in pairs (scripts/bench/pairs.ts) is against the plain side of its median pair.
  const paired = figure(results[run.id]?.[run.baselineBroker ?? 'mosquitto'], 'baseline_value');
  return paired ?? figure(results[run.baseline ?? run.id]?.[run.baselineBroker ?? 'mosquitto'], run.metric);
}

/** `x Mosquitto`, `x Mosquitto qos1`, `x Roost fan-in`: what a row's ratios are against. */
function baselineLabel(run: PlannedRun): string {
  const broker = run.baselineBroker ?? 'mosquitto';
  return `x ${broker[0]!.toUpperCase()}${broker.slice(1)}${run.baseline ? ` ${run.baseline}` : ''}`;
}

function fmtRatio(value: number | undefined): string {
  return value === undefined ? '–' : `${value.toFixed(2)}x`;
}

function brokersOf(results: Results, run: PlannedRun): string[] {
  return BROKER_ORDER.filter((name) => results[run.id]?.[name] !== undefined);
}

function table(results: Results, run: PlannedRun): string {
  const base = baselineOf(results, run);
  const header = ['broker', `${run.metric} (${run.unit})`, `${baselineLabel(run)} (${run.better} is better)`, ...run.columns, 'errors'];
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
  // The baseline comes from another row: its bar goes first, named by that row.
  const pairedBase = figure(results[run.id]?.[run.baselineBroker ?? 'mosquitto'], 'baseline_value') !== undefined;
  if (run.baseline && base !== undefined) bars.unshift({ name: `${run.baselineBroker ?? 'mosquitto'} (${run.baseline}${pairedBase ? ', median pair' : ''})`, value: base });
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

/** What the TLS and WebSocket rows say, with this run's figures where a claim rests on one. */
function tlsAndWebSocket(results: Results): string[] {
  const get = (id: string, broker: string, key: string) => figure(results[id]?.[broker], key);
  const rate = (v: number | undefined) => (v === undefined ? '–' : fmt(Math.round(v)));
  const ratio3 = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(3)}x`);
  const pct = (v: number | undefined) => (v === undefined ? '–' : `${Math.round(Math.abs(1 - v) * 100)}%`);
  const keeps = (id: string, broker: string) => ratio(get(id, broker, 'rate'), get('fan-in', broker, 'rate'));
  const tlsRoost = againstPlainRoost(results, 'tls-fan-in', 'fan-in', 'msg/s').value;
  const tlsMosquitto = keeps('tls-fan-in', 'mosquitto');
  const wsRoost = againstPlainRoost(results, 'ws-fan-in', 'fan-in', 'msg/s').value;
  const wsAedes = keeps('ws-fan-in', 'aedes');
  return [
    '### TLS and WebSocket',
    '',
    'The TLS and WebSocket rows run on broker processes started for them with those listeners: Roost with `tls` and `ws` (as `npm start`, ROOST_TLS_* and ROOST_WS_PORT), Mosquitto with a plain and a TLS listener, Aedes with the `ws` library\'s server in front of `broker.handle`. All present one EC P-256 server certificate made for the run with openssl (scripts/lib/certs.ts), which roost-bench verifies against the run\'s CA (`--tls --ca`); WebSocket rows connect to `ws://…/mqtt` with the subprotocol `mqtt`. Debian\'s Mosquitto 2.0.11 fails to open a WebSocket listener on these machines, so the WebSocket rows compare Roost against Aedes over ws and against its own plain TCP.',
    '',
    `- **TLS set-up is bound by the handshakes on two cores.** Each broker and the load generator do public-key work for every connection (ECDHE and an ECDSA signature on the broker, verification in the client), so set-up runs at ${rate(get('tls-connect', 'roost', 'rate'))} connections/s for Roost and ${rate(get('tls-connect', 'mosquitto', 'rate'))}/s for Mosquitto, against ${rate(get('idle', 'roost', 'rate'))}/s and ${rate(get('idle', 'mosquitto', 'rate'))}/s over plain TCP. Roost\'s handshake is Node\'s OpenSSL plus a JavaScript TLSSocket per connection; that per-connection work on top of OpenSSL, against Mosquitto\'s C loop, is where a gap to Mosquitto would come from (not profiled). The bench client shares the same two cores and is the same for both brokers. Session resumption would shorten handshakes, but the bench opens fresh connections on purpose.`,
    `- **TLS once connections are up:** Roost over TLS keeps ${ratio3(tlsRoost)} of its plain fan-in (${pct(tlsRoost)} ${tlsRoost !== undefined && tlsRoost > 1 ? 'above' : 'below'}), Mosquitto ${fmtRatio(tlsMosquitto)} of its own.${tlsRoost !== undefined && tlsRoost < 0.9 && tlsRoost >= 0.85 ? ` That misses the 0.9x target by ${((1 - tlsRoost / 0.9) * 100).toFixed(1)}%, less than a rerun moves it on this machine; what TLS adds per message is the record encryption and a TLSSocket between the TCP socket and the connection, in both directions (not profiled further).` : ''}${tlsRoost !== undefined && tlsMosquitto !== undefined && tlsRoost > tlsMosquitto ? ' Encryption is a small part of Roost\'s cost per message, next to routing in JavaScript; on Mosquitto\'s cheaper plain path it weighs more.' : ''}`,
    `- **WebSocket:** Roost over ws keeps ${fmtRatio(wsRoost)} of its plain fan-in, Aedes over ws ${fmtRatio(wsAedes)} of its own. Framing costs Roost less than the rest of the message path, which is the same on both${wsRoost !== undefined && wsRoost > 1 ? '; a ratio above 1.00x is within this machine\'s run-to-run variation, not an advantage' : ''}.`,
    `- ${pairedNote(results, ['tls-fan-in', 'ws-fan-in'])} Mosquitto's and Aedes' ratios are one run each; repeat before reading more than about 5% into them (\`npm run bench:compare -- --only tls-connect,tls-fan-in,ws-fan-in\` reruns these rows and the plain fan-in they are compared with).`,
  ];
}

/** How the rows against Roost's own plain rows were measured (scripts/bench/pairs.ts), and what the pairs cost. */
function pairedNote(results: Results, ids: string[]): string {
  const rows = ids.flatMap((id) => (figure(results[id]?.roost, 'ratio_median') === undefined ? [] : [{ id, row: results[id]!.roost! }]));
  if (rows.length === 0) return `Roost's ratios against its plain rows (${ids.join(', ')}) are one run of each side.`;
  const seconds = rows.map(({ id, row }) => `${id} ${fmt(row.pairs_s)} s`).join(', ');
  return `Roost's ratios against its own plain rows (${rows.map((r) => r.id).join(', ')}) are the median of interleaved pairs: each pair one run of the row and one of the plain row, each on a broker process started for it, the side going first alternating from pair to pair; the spread of the pair ratios (min-max) and their count are in the table. The pairs took ${seconds} of this run (scripts/bench/pairs.ts).`;
}

function notes(results: Results): string[] {
  const lines: string[] = [];
  for (const run of PLAN) {
    if (run.reuse) continue;
    for (const [broker, result] of Object.entries(results[run.id] ?? {})) {
      for (const [i, pair] of ((result.pair_samples ?? []) as Array<{ failed?: string }>).entries()) {
        if (pair.failed) lines.push(`- ${run.id} on ${broker}, pair ${i + 1} not counted: ${pair.failed}`);
      }
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
  const sections = PLAN.filter((run) => !run.flat && Object.keys(results[run.id] ?? {}).length > 0).map((run) => {
    const svg = `bench/${run.id}.svg`;
    writeFileSync(new URL(`docs/${svg}`, root), `${chart(results, run)}\n`);
    return [`### ${run.title}`, '', table(results, run), '', `![${run.id}](${svg})`, ''].join('\n');
  });
  const targetRows = (rows: TargetRow[]) => ['| target | measured | met |', '|---|---|---|', ...rows.map((t) => `| ${t.target} | ${t.measured} | ${t.met === undefined ? '–' : t.met ? 'yes' : 'no'} |`)];
  const flat = flatSection(root, results);
  const problems = notes(results);
  const markdown = [
    '# Benchmarks',
    '',
    `Generated by \`npm run bench:compare\` (scripts/bench-compare.ts) on ${env.date}, in ${env.elapsedS} s. Raw result lines: [bench/results.json](bench/results.json).`,
    ...(env.partial
      ? ['', `Rows run again on that date with \`--only\`: ${env.partial}${env.earlierReruns?.length ? `; before that, with \`--only\` on ${env.earlierReruns.join('; on ')}` : ''}; the others are from the full run${env.fullRunDate ? ` of ${env.fullRunDate}` : ' before'}. The machine and load lines below are this last run's.`]
      : []),
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
    `- roost-bench: MQTT 3.1.1, 64-byte payloads, flood scenarios ${FLOOD_SECONDS} s each with a window of 1000 deliveries per worker (2 workers unless one connection each side), latency at a fixed 1000 msg/s with publisher and subscriber in one worker, idle: on a broker process started for the run (and 2 s of settling), 500 connects in flight, keep alive 60, memory from /proc/<pid>/status VmRSS before the first connect and once all are connected (1 s settle); 19000 connections from 2 bench workers and 4 loopback source addresses.`,
    ...Object.entries(env.settings).map(([name, s]) => `- ${name}: ${s}`),
    '',
    '## Targets of issue #13 (Roost: lean edges)',
    '',
    'Memory figures come from a broker process started for that one measurement (fresh), RSS growth from before the first connect to all connected; connect times from the same runs.',
    '',
    ...targetRows(issue13Targets(results)),
    '',
    ...whereMemoryGoes(results),
    '',
    '## Targets of issue #10 (TLS and WebSocket)',
    '',
    ...targetRows(issue10Targets(results)),
    '',
    ...tlsAndWebSocket(results),
    '',
    '## Targets of issue #11 (password file and ACL)',
    '',
    'On Roost and Mosquitto processes started with the run\'s password file (written by `mosquitto_passwd -b`: PBKDF2-SHA512, 101 iterations) and ACL file (100 rules: user sections, a deny inside what the bench user reads, 22 `pattern` lines with `%u` and `%c`; scripts/bench/auth-files.ts); every bench client logs in as the bench user. What the figures come from: docs/security.md, Cost.',
    '',
    pairedNote(results, ['acl-fan-in', 'acl-fan-out']),
    '',
    ...targetRows(issue11Targets(results)),
    '',
    '## Targets of issue #4 (Roost)',
    '',
    ...targetRows(issue4Targets(results)),
    '',
    'QoS 1 across nodes "with no Redis round trip per message for online subscribers" is a property of the code path, not a figure; the cross-node QoS 1 table below shows its throughput.',
    '',
    '## Results',
    '',
    ...sections,
    ...flat,
    '## Notes',
    '',
    '- Cross-node latency (issue #13; profiled 2026-12-02 with CPU and sampling heap profiles of both nodes, `--trace-gc` and timestamps at each hop, at 1k msg/s): the publisher\'s node queues the message and flushes a batch in a setImmediate (one per event-loop turn, no timer); grpc-js hands it to HTTP/2, whose session writes from a native immediate; the second node decodes it (protobuf, then grpc-js\'s layers), delivers it in the same callback and acks the batch a turn later. Each node allocated 8-12 KB per message (grpc-js and protobuf\'s conversions, HTTP/2 streams, mqtt-packet\'s `debug()` arrays, gone since 2026-12-04) and scavenged every ~100 ms for 1-2 ms; a 10 s run had one mark-compact of 13-18 ms (after start, the old generation growing to ~20 MB). Of the CPU of the sending node, ~35% was native time outside JavaScript (the HTTP/2 writes) and ~20% grpc-js. Measured and not kept (interleaved rounds, 5-6 each, on the machine\'s load of 2-7): flushing on a microtask at the end of the forwarding callback (2.14x and 3.12x the single-node p50 against 2.61x and 2.88x), no ack for batches of QoS 0 only (2.51x against 2.61x), `grpc.enable_retries` 0 (2.47x); in three bench:compare runs each, with and without the microtask flush, the ratio was 1.53-2.94x and 2.07-2.67x.',
    '- Latency is end to end: the publisher writes its send time (wall clock with sub-millisecond precision, shared by the worker processes) into the payload; the subscriber records arrival minus send time in an HDR histogram (perf_hooks). Under flood the window bounds it (Little\'s law: about window / rate), so flood latencies compare brokers at the same window, not absolute responsiveness.',
    '- The load generator shares the 2 cores with the broker under test: at the highest rates it, not the broker, can be the bound (a CPU profile of Roost under the qos1 scenario showed it idle 61% of the time).',
    '- Mosquitto 2.0.11 with its default `max_inflight_messages 20` stops delivering queued outgoing QoS 2 messages once its in-flight slots fill at the end of a burst (reproduced with MQTT.js: 500 QoS 2 publishes, 20 delivered); its qos2 row therefore may show lost messages. With `max_inflight_messages 1000` the stall disappears; the comparison keeps the default.',
    '- Aedes in Redis mode runs as two processes on one Redis (aedes-persistence-redis, mqemitter-redis); both install and run on Node 24.',
    '- Connect time: about 0.1 ms of broker CPU per connection (socket setup, the CONNECT parse, the CONNACK writev, GC); on this loaded machine the ratio to Mosquitto moves by 30-50% between runs, more than any change made here. Much of that is Mosquitto\'s: its connect p99 is about 1.1 s, some of its SYNs being dropped at its listen backlog and retried after 1 s, so its total for 10000 ran 1.36-2.75 s over five runs on 2026-12-02 while Roost\'s ran 1.77-1.93 s (0.71-1.32x) and a cluster node\'s 3.3-4.0 s (1.36-2.41x). A cluster CONNECT adds Redis round trips (docs/cluster.md).',
    '- Roost runs as `npm start` runs it (the settings line above): compiled JavaScript, `--max-semi-space-size=8 --no-maglev` (what each buys and costs: "V8\'s flags" under the #13 targets). The tests run on the TypeScript sources.',
    '- The flat-cost plot (docs/bench/idle-flat.png) is drawn by gnuplot (Debian\'s gnuplot-nox) when it is installed; the tables and SVG charts need nothing.',
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
    '- Not done, measured first where it would go next: a trie match cache (matching is ~1.2M/s on 100k filters, not the bound in any scenario here).',
    '',
    'Lean edges (issue #13), each measured on a fresh process (heap: snapshot diff at 2000 idle connections; RSS: 10000 idle connections, 500 connects in flight):',
    '',
    '- mqtt-packet\'s encoder no longer builds its cache of 65536 two-byte Buffers on first use (6.8 MB once, ~50 ns more per encoded packet): heap 9,615 -> 5,707 bytes per connection.',
    '- PacketReader frames each connection\'s bytes into whole packets and decodes them with parsers shared by all connections, instead of an mqtt-packet parser (with its buffer-list stream) each: 5,707 -> 4,100.',
    '- Topic-alias map and held-back set made on first use; socket listeners and the uncork callback shared instead of closures per connection: 4,100 -> 3,487.',
    '- `npm start` builds and runs compiled JavaScript; an embedded node imports no Redis or gRPC code; the young generation is capped at a 2 MiB semi-space: at rest 123 -> 76 MiB, RSS per idle connection on a fresh node ~11.5-14.7 KB -> 4.0-4.7 KB.',
    '- The semi-space cap raised from 2 to 8 MiB (2026-12-03): fan-in 71-72k -> 88-96k msg/s, QoS 1 26-28k -> 29-31k, fan-out 110k -> 130k (two interleaved runs of three rounds, Mosquitto 138-157k, 69-74k, 97k in the same rounds); RSS per idle connection on a fresh embedded node 3,630 -> 4,590-4,850 bytes.',
    '- mqtt-packet gets a `debug` that does nothing unless DEBUG is set (a module hook resolving only its `require(\'debug\')`; 2026-12-04): its 58 trace calls had built their argument arrays and run debug\'s enabled check at every parse step. `npm run bench:codec` parses QoS 1 PUBLISHes 1.38-1.51x faster; 8 s floods, three interleaved rounds of fresh processes against DEBUG=none (which keeps the real `debug`), Mosquitto in every round: fan-in 216-252k -> 278-320k msg/s, QoS 1 73-81k -> 84-106k, fan-out 272-328k -> 287-320k (the same; Mosquitto 154-167k, 66-80k, 132-167k). RSS per idle connection on a fresh embedded node 4,659-5,207 -> 4,410-4,810 bytes, its 10k connects 1,447-1,650 -> 1,190-1,488 ms (Mosquitto 1,885-2,379).',
    '- A cluster node resolves at most `ROOST_CONNECT_CONCURRENCY` CONNECTs at once (default 32; 2026-12-04), the rest waiting their turn: RSS per idle connection on a fresh cluster node (10k, 500 in flight, interleaved scratch rounds) 5,140-7,875 -> 4,003-4,953 bytes, its 10k connects 1,951-2,510 -> 1,526-1,720 ms (at 64 the figure was bimodal, 3.7-4.0 or 5.0-7.4 KB; see "Where the memory goes", Cluster node).',
    '- node:http taken through require(), not an ESM import whose read of the lazy `WebSocket` export loaded undici; the TLS and WebSocket listener modules loaded only when configured: at rest 77.0 -> 75.0 MiB (medians of 3).',
    '- prom-client\'s parts required from their own files (not its index: push gateway, node:https/tls/zlib, cluster aggregator, Summary); @roost/auth loaded only when a provider or rule source is configured, jose only with JWT (`@roost/auth/jwt`); the default metrics but prom-client\'s CPU counters (@opentelemetry/api), the node counting CPU itself: at rest 74.2-74.7 -> 68.5 MiB (medians of 7, interleaved; bench:compare\'s idle row 77.6 -> 68.5 MiB).',
    '- A session\'s four maps and the ACL receive cache make their hash tables on first write (LazyMap): heap per idle connection 4,150 -> 3,409 bytes, RSS per idle connection at 10000 about 5,560 -> 5,100 (medians of 3).',
    '- The cluster session read and holder check are one Lua script each instead of a MULTI: allocation per cluster CONNECT 83 -> 48 KB, RSS per idle connection on a fresh cluster node 12.6-14.2 KB (four runs) -> 6.7-10.1 KB (eight runs).',
    '- The channel reports drops to its connection (a DropSink field, not a closure each); an empty session queue and fresh-ids list share one empty array: heap per idle connection 3,409 -> 3,282 bytes, RSS at 10000 4,480-5,130 -> 4,295-4,671 (4 runs).',
    '- Throughput kept (Roost against Mosquitto, `--only fan-in,fan-out,qos1`, same machine, load average 4-13): before these changes fan-in 1.43x and 0.99x, fan-out 2.17x and 1.77x, QoS 1 2.10x and 0.63x; after the session maps and the cluster scripts 1.54x and 0.98x, 2.58x and 4.37x, 0.85x and 0.89x; after all of them 1.23x and 1.10x, 3.33x and 2.74x, 1.44x and 1.40x. Each pair is two runs; the spread within a pair is larger than any move between them.',
    '- Measured and not kept: a smaller socket `highWaterMark` (no effect on an idle socket), `MALLOC_ARENA_MAX=1`, `--v8-pool-size=1`, `--single-threaded` (no effect), ioredis\'s `enableAutoPipelining` (57 KB allocated per cluster CONNECT instead of 48, 9.4-10.7 KB per connection), `--heap-growing-percent=50` and `--optimize-for-size` (cluster memory down, throughput down; see "Where the memory goes").',
    ...(problems.length > 0 ? ['', 'Failures and losses in this run:', '', ...problems] : []),
    '',
  ].join('\n');
  writeFileSync(new URL('docs/benchmarks.md', root), markdown);
}
