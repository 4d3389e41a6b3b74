// The memory part of docs/benchmarks.md: the flat-cost table with its SVG bars and gnuplot PNG,
// and "Where the memory goes" (what profiling found, with this run's figures where one applies).
import { writeFileSync } from 'node:fs';
import { renderFlatPng } from './flat-plot.ts';
import type { Results } from './report.ts';
import { FLAT_RUNS, figure, fmt, growthFit } from './targets.ts';

const ROOST_COLOR = '#d97706';
const MiB = 2 ** 20;

/** Bytes per idle connection at 1k, 5k, 10k and 19k on a fresh node: a table, bars and a plot. */
export function flatSection(root: URL, results: Results): string[] {
  const rows = FLAT_RUNS.flatMap((id) => {
    const result = results[id]?.roost;
    return result ? [{ id, result }] : [];
  });
  if (rows.length === 0) return [];
  const bars = rows.flatMap(({ result }) => {
    const value = figure(result, 'bytes_per_connection');
    return value === undefined ? [] : [{ label: `${fmt(result.connections)} connections`, value }];
  });
  const width = 720;
  const height = 40 + bars.length * 30 + 20;
  const max = Math.max(...bars.map((b) => b.value), 1);
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-weight="bold">Roost, fresh node: broker RSS growth per idle connection (bytes), lower is better</text>`,
    ...bars.map((bar, i) => {
      const y = 40 + i * 30;
      const length = Math.max(1, (bar.value / max) * 360);
      return `<text x="162" y="${y + 19}" text-anchor="end">${bar.label}</text><rect x="170" y="${y + 5}" width="${length.toFixed(1)}" height="20" fill="${ROOST_COLOR}"/><text x="${(176 + length).toFixed(1)}" y="${y + 19}">${fmt(bar.value)} bytes</text>`;
    }),
    '</svg>',
  ].join('\n');
  writeFileSync(new URL('docs/bench/idle-flat.svg', root), `${svg}\n`);
  const fit = growthFit(rows.map(({ result }) => result));
  const points = rows.flatMap(({ result }) => {
    const [n, per, before, after] = ['connected', 'bytes_per_connection', 'rss_before_bytes', 'rss_after_bytes'].map((key) => figure(result, key));
    return n === undefined || per === undefined || before === undefined || after === undefined ? [] : [{ connections: n, bytesPerConnection: per, growthBytes: after - before }];
  });
  const png = renderFlatPng(root, points, fit);
  const header = ['connections', 'bytes_per_connection', 'bytes_per_connection_ps', 'bytes_per_connection_smaps', 'rss_before_bytes', 'rss_after_bytes', 'connect_ms', 'connected', 'errors'];
  return [
    '### Flat cost: bytes per idle connection at 1k, 5k, 10k and 19k connections (Roost, each on a fresh node)',
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map(({ result }) => (typeof result.failed === 'string' ? `| failed: ${result.failed} |` : `| ${header.map((h) => fmt(result[h])).join(' | ')} |`)),
    '',
    ...(fit ? [`Least-squares line through these rows: RSS grows by ${fmt(Math.round(fit.slope))} bytes per connection on top of a fixed ${(fit.intercept / MiB).toFixed(1)} MiB that the first connections cost (JIT code and compiler memory, heap and malloc arena pages); the per-connection figure falls towards the slope as connections grow.`, ''] : []),
    png.ok ? '![idle-flat plot](bench/idle-flat.png)' : `(No plot: ${png.why}.)`,
    '',
    '![idle-flat](bench/idle-flat.svg)',
    '',
  ];
}

const mib = (bytes: number | undefined) => (bytes === undefined ? '–' : `${(bytes / MiB).toFixed(1)} MiB`);

/** What profiling found (2026-12-02), beside this run's figures. */
export function whereMemoryGoes(results: Results): string[] {
  const roost = results.idle?.roost;
  const cluster = results.idle?.['roost-cluster'];
  const check = (result: typeof roost) =>
    `${fmt(figure(result, 'bytes_per_connection'))} bytes by VmRSS, ${fmt(figure(result, 'bytes_per_connection_ps'))} by \`ps\`, ${fmt(figure(result, 'bytes_per_connection_smaps'))} by smaps_rollup`;
  return [
    '### Where the memory goes',
    '',
    'Measured on fresh processes with `/proc/<pid>/status`, `/proc/<pid>/smaps` and `smaps_rollup`, `process.memoryUsage()` and `v8.getHeapSpaceStatistics()`, `--heapsnapshot-signal` snapshots diffed before and after 2000 idle connections, and V8\'s sampling heap profiler with collected objects included (what a CONNECT allocates, garbage too), 2026-12-01 and 2026-12-02. Each idle row also carries the V8 heap split of its run (`heap_used_*`, `heap_total_*`, `new_space_*`, `external_*` in results.json, from the node\'s /metrics).',
    '',
    `**The figure is checked.** The idle rows read the broker\'s RSS three ways at the same moments: VmRSS from /proc/<pid>/status (the figure), \`ps -o rss=\` (procps, from /proc/<pid>/stat) and the Rss of /proc/<pid>/smaps_rollup (the kernel walks the page tables instead of reading its counters). This run: embedded ${check(roost)}; cluster node ${check(cluster)}.`,
    '',
    '**At rest** (embedded, HTTP on, nothing connected):',
    '',
    '| process | RSS | of which file-backed (the node binary\'s pages) |',
    '|---|---|---|',
    '| bare Node 24, an empty .mjs | 42-45 MiB | 34-37 MiB |',
    '| bare Node 24, an empty .ts (type stripping loads its WebAssembly transpiler) | 60 MiB | 40 MiB |',
    '| Node requiring only the built-in modules Roost loads (net, http, https, tls, crypto, zlib, worker_threads, fs/promises, dns, cluster, ...) | 55.5 MiB | 42 MiB |',
    '| the same plus pino, mqtt-packet, @opentelemetry/api and prom-client (what any Roost node loads) | 66.5 MiB | 49 MiB |',
    '| Roost from the TypeScript sources (`node services/edge/src/main.ts`, before #13) | 119-124 MiB | 57 MiB |',
    '| Roost compiled (`npm start`), before this pass | 74-77 MiB | 50.7 MiB |',
    `| Roost compiled now (this run; heap ${mib(figure(roost, 'heap_used_before_bytes'))} used of ${mib(figure(roost, 'heap_total_before_bytes'))}, external ${mib(figure(roost, 'external_before_bytes'))}) | ${mib(figure(roost, 'rss_before_bytes'))} | 49.6-50 MiB |`,
    '',
    '- An ESM `import { createServer } from \'node:http\'` reads every export of node:http, and its lazy `WebSocket` getter loads undici: 73 more built-in modules, +13 MiB in a bare Node. Roost now takes node:http through `require()` (packages/node/src/http-server.ts, packages/broker/src/listeners/ws.ts): 77.0 -> 75.0 MiB at rest (medians of 3); much of what undici loads, Roost loads anyway.',
    '- The TLS and WebSocket listener modules (node:tls, the ws library) load only when such a listener is configured.',
    '- prom-client\'s index requires its push gateway (node:https, so node:tls, and node:zlib), its cluster aggregator and Summary (tdigest, bintrees), which no node calls: the node requires the registry, Counter, Gauge, Histogram and the default metrics from their own files (packages/node/src/prom-client.ts), 74.2-74.3 -> 71.6-71.9 MiB (medians of 5-7, interleaved with the code before). node:tls now loads only with a TLS listener.',
    '- @roost/auth loads only when a provider or rule source is configured (packages/node/src/auth.ts), and its JWT provider is an entry of its own, `@roost/auth/jwt`, so jose loads only with ROOST_JWT_* (jose alone 1.9 MiB beside @roost/broker): 71.6-71.9 -> 69.5-69.8 MiB. With a password file the node loads @roost/auth but not jose.',
    '- prom-client\'s process CPU counters require @opentelemetry/api (for exemplars, unused here): the node registers the other default metrics one by one and counts process CPU itself under the same names, 69.5-69.6 -> 68.5-68.7 MiB (medians of 7; a stub in its place had shown 0.5 MiB while prom-client\'s index still loaded).',
    '- Measured and not kept (medians of 5-7, interleaved): Node\'s compile cache (`NODE_COMPILE_CACHE`, a start that reads the cache) +1.7 MiB, 71.8 -> 73.5 (the cached functions\' bytecode is materialized at load); a full GC after start (`--expose-gc`, `gc()` at 1.5 s) no lower; `UV_THREADPOOL_SIZE=1` and `--single-threaded-gc` no change; `--v8-pool-size=1` -1.3 MiB and `=2` -0.8 MiB, `--max-semi-space-size=1` -1.7 MiB, `MALLOC_ARENA_MAX=2` -0.8 MiB: the target is met without them and none was shown to cost no throughput, so none is among npm start\'s flags (those it has: **V8\'s flags**, below).',
    `- What is left (this run ${mib(figure(roost, 'rss_before_bytes'))}): the node binary\'s pages (49.6-50 MiB file-backed: the code of the built-in modules and of V8 that ran, against 34-37 MiB for a bare Node), the V8 heap (${mib(figure(roost, 'heap_used_before_bytes'))} used of ${mib(figure(roost, 'heap_total_before_bytes'))} committed, ${mib(figure(roost, 'new_space_before_bytes'))} of it new space, which grows up to two 8 MiB semi-spaces under load) and malloc. A node at rest loads the built-ins net, http, crypto, fs/promises and timers/promises (a listening net.Server loads cluster, and with it child_process and dgram; 52.7 MiB in a bare Node that loads only those and listens), pino, mqtt-packet and prom-client\'s registry and default metrics, and Roost\'s own modules (@roost/broker, its cluster modules included, 1.8 MiB measured apart). Before this pass, saslprep\'s tables (about 2 MiB of heap) loaded at start; they load at the first SCRAM password now (#11).`,
    '- Type stripping: `npm start` runs compiled JavaScript (above: 119-124 -> 74-77 MiB). A test process importing @roost/node from the sources takes 109-110 MiB and 0.6-1.3 s to import it; with `--conditions=roost-dist` (the build) 94 MiB and 0.38 s. Tests could run on the build that way, but the test files themselves are TypeScript, so the transpiler still loads, and a stale build would be tested; they stay on the sources.',
    '',
    '**Per idle connection** (heap snapshot diff, 2000 connections on a fresh node, bytes per connection):',
    '',
    '| part | before this pass | now |',
    '|---|---|---|',
    '| Map hash tables: the Session\'s 4, ClientPermissions\' receive cache | 1,059 (5 Maps) | 128 (4 LazyMap wrappers, no tables) |',
    '| the PacketReader (the parsers that decode are shared) | 72 | 72 |',
    '| closures and their context (Channel.onDrop, now a DropSink field; the ResponseOrder\'s failure handler; the socket\'s onwrite) | 256 | 192 |',
    '| net.Socket and its libuv handle (Socket, TCPSocketWrap, TCP, Readable/WritableState, _events, _peername, property and listener arrays) | ~1,220 | ~1,220 |',
    '| Channel, Connection, Session, Fifo (and two empty arrays, now shared), ClientPermissions and its identity, ConnectionInfo, ResponseOrder, timestamps, client id | ~930 | ~880 |',
    '| JIT code compiled by the first connections (once; less per connection as they grow) | 503 | 514 |',
    '| total | 4,150 | 3,282 |',
    '',
    'Earlier #13 changes had taken it from 9,615: mqtt-packet\'s number cache (3,408, built on the first encode), an mqtt-packet parser with its buffer-list stream per connection (~1,600), the Channel\'s two maps and per-connection socket listener closures.',
    '',
    '- **What Node itself costs:** a bare node:net server holding 10000 idle sockets (each got 40 bytes and answered 4) grows by 3,050-3,090 bytes of RSS per connection, 1,311 of them V8 heap: the rest is the socket\'s native side (TCPWrap, uv_tcp_t) and malloc. Roost\'s own state adds about 2,000 bytes on top. With the flags npm start uses (2026-12-04, `npm run bench:bare-net` twice and a scratch run of it, two fresh processes per count each, the idle rows\' method): 11,620-12,411 / 4,315-4,633 / 3,577-3,708 / 2,508-2,656 bytes per connection at 1k / 5k / 10k / 19k, about 2,050 marginal over a fixed ~10 MiB, where Roost\'s marginal cost is about 3,500 over the same fixed part: the fixed cost of the first connections, and so the flat-cost target, is Node\'s.',
    '- **Socket buffers:** `highWaterMark` does not move it (3,212 with 1 KiB on that server, within its noise): Node reads into a 64 KiB buffer per read whatever the high-water mark, trimmed to what came, and an idle socket buffers nothing. `MALLOC_ARENA_MAX=1`, `--v8-pool-size=1` and `--single-threaded` did not move Roost\'s figure either (5,370-5,930 bytes, two runs each, against 5,000 and 5,720 without; the same day, before the changes below).',
    '- **Per-CONNECT garbage** (sampling heap profiler, collected objects included): an embedded CONNECT allocates about 27.6 KB, 4.7 KB of it the rest-argument arrays of `debug()` calls in mqtt-packet\'s parser (built before `debug` checks that it is off; gone since the edge process hands mqtt-packet a `debug` that does nothing unless DEBUG is set, below), 6.2 KB promises and arrays, 5.0 KB Node\'s socket set-up, 3.3 KB the session lifecycle. Garbage is not RSS by itself: with the silent `debug` the embedded figure moved little (10k idle connections at the 8 MiB cap, three interleaved rounds on 2026-12-04: 4,410-4,810 bytes against 4,659-5,207 with DEBUG=none, which keeps the real `debug`).',
    '',
    '**RSS is more than the live heap.** With Node 24\'s defaults the young generation grows to a 64 MiB semi-space (128 MiB of new space) during a burst of connects, and the pages stay: 10000 connections on a fresh TypeScript node grew RSS by 12.9 KB each with 5.6 KB of them live heap. npm start caps the semi-space at 8 MiB, new space at 16 MiB: 10000 connections on fresh embedded nodes (2026-12-03, the built JavaScript) grew RSS by 3,630 bytes each at a 2 MiB cap, 4,030-4,050 at 4, 4,770-4,890 at 6, 4,590-4,850 at 8 and 7,120 at Node\'s default; what the cap costs in throughput is under **V8\'s flags**, below. A fresh node also pays once for its first connections, the fixed part under the flat-cost table: over the first 1000 (smaps by mapping) the malloc main arena grew by 5.6 MiB and by only 1.1 MiB more over the next 9000 (each read takes a 64 KiB buffer, trimmed to what came; with 500 reads in flight the arena grows, and the sockets\' small native allocations placed in its holes keep it), anonymous mappings by 13.6 MiB (V8 heap pages, the compiler threads\' zones and code) and the node binary\'s pages by 0.8 MiB. That is why 1000 connections show several times the 19000 figure; the slope is what each connection costs.',
    '',
    '**V8\'s flags** (npm start and the image: `--max-semi-space-size=8 --no-maglev`), measured 2026-12-02 in interleaved scratch runs of the idle scenario, three fresh processes a side, and of `bench:compare --only` rows, four pairs with the order alternating:',
    '',
    '- `--max-semi-space-size=8` (2 until 2026-12-03): the smaller the young generation, the more scavenges a flood runs, each copying the messages in flight. Fan-in allocated about 5.9 KB per message (sampling heap profiler: a quarter of it the contexts and rest arrays of mqtt-packet\'s `debug()` calls, made before `debug` checks that it is off, which the silent `debug` of 2026-12-04 removes; then the PUBLISH encoding and bl\'s copies). An 8 s fan-in at a 2 MiB cap ran 1,602 scavenges, 1.34 s of pauses, 69 MB promoted; at Node\'s default 429, 0.42 s, 5 MB. Two interleaved runs of three rounds (fresh processes, 8 s floods of the bench client, Mosquitto in every round, 2026-12-03): fan-in 71-72k msg/s at 2 MiB, 77k at 4, 83k at 6, 88-96k at 8, 88-92k at the default; QoS 1 26-28k, 29k, 31k, 29-31k, 31-34k; fan-out 110k at 2 MiB, 130-131k at 6 and 8, 129k at the default (Mosquitto 138-157k, 69-74k, 97k). So the 2 MiB cap cost a fifth of fan-in and a tenth of QoS 1, which the comparison of 2026-12-02 had put down to noise; 8 MiB gives that back but leaves a fresh embedded node at its 5,000-byte target, not under it (4,590-5,053 bytes in scratch runs and full runs; 3,990 at a 4 MiB cap, whose throughput was measured in one round only). In the same rounds the code of d2655b5 (before #13, on its TypeScript sources) ran fan-in 78-88k and QoS 1 26-42k, today\'s at 2 MiB 61-75k and 24-27k: the cap, not the code, was the difference.',
    '- `--no-maglev`: V8\'s mid-tier compiler (Maglev, on by default since Node 22) compiles on background threads, and the zone memory it frees there stays resident in those threads\' malloc arenas: with gdb, `malloc_trim(0)` on a node holding 1000 idle connections gave back 18 MB of its 24 MB growth. Without Maglev, code goes from the interpreter and Sparkplug to TurboFan, as on Node 20: 1000 idle connections 24.9-26.6 -> 7.5-8.6 KB each, 10k embedded 5,053-5,113 -> 3,544-3,564 bytes, 10k on a cluster node (with `--heap-growing-percent=50` on both sides) 5,244-5,613 -> 3,575-4,095, and without it 7,148-7,564, at rest 68.6-69.4 -> 66.6-67.0 MiB. Throughput against Mosquitto in the same runs, fresh processes and 5 s floods: fan-in 0.47-0.59x (median 0.49) -> 0.43-0.55x (0.50), fan-out 1.11-1.70x (1.51) -> 1.25-1.47x (1.35), QoS 1 0.34-0.48x (0.42) -> 0.37-0.46x (0.40); on warm processes (several floods on one) fan-out 226k-309k against 232k-305k msg/s and QoS 1 44k-71k against 42k-75k: the same. What it costs is warm-up: for the first ~5 s of a new process more cross-node messages wait on code not yet optimized (a scratch 1k msg/s timeline: p99 5.6 ms either way over 15 s).',
    '- `--heap-growing-percent=50`, measured and not kept: the cluster node\'s old generation, grown by what 500 CONNECTs waiting on Redis promote, is let grow to 1.5x of what survived its last mark-compact instead of up to 4x: 10k on a cluster node 8,694-9,045 -> 4,813-5,015 bytes (before `--no-maglev`), its 10k connects 3,059-3,242 -> 2,355-3,175 ms with Mosquitto at 1,792-2,316; the embedded node, whose heap holds little garbage, did not move (4,861-5,361 -> 4,942-5,027). Throughput: fan-in 0.44-0.53x Mosquitto (median 0.50) -> 0.28-1.37x (0.52), fan-out 1.10-1.68x (1.35) -> 1.03-1.79x (1.48), QoS 1 0.35-0.62x (0.50) -> 0.37-0.62x (0.50). But the full `bench:compare` run with it in npm start showed cross-node fan-in at 0.21x Mosquitto\'s single-node fan-in (0.62x before), and on one cluster, two 5 s floods per process, cross-node fan-in was 49-60k msg/s with it against 66-74k without (no-maglev alone 57-77k); that run\'s cluster connects took 2.36x Mosquitto\'s time (2,933-3,949 ms), against 1,967-2,328 ms per process without it. Not kept: the cluster node\'s figure stays above the 6,000-byte target (7.1-7.6 KB in scratch runs) rather than costing a fifth of its cross-node throughput. At 25 the connects were 15-20% slower still.',
    '- `--no-concurrent-recompilation` (TurboFan on the main thread) took 1000 connections to 6.2-6.8 KB as well, but cross-node messages at 1k msg/s then met stalls of 5-12 ms all through a 15 s run (p99 18-19 ms against 8-11 ms): not kept. `--concurrent-turbofan-max-threads=1` with `--concurrent-maglev-max-threads=1` did not move the 1000-connection figure (27.3-28.6 KB), nor did `MALLOC_ARENA_MAX=1`, `MALLOC_TRIM_THRESHOLD_=0` or a larger semi-space (8 or 16 MiB: 7.5-9.1 KB on the cluster node).',
    '',
    `**Cluster node.** A cluster CONNECT waits on Redis (the session read, the directory claim, the will delete, the holder check), and with 500 in flight what it allocated survives scavenges and grows the old generation. It allocated 83 KB per CONNECT, 35 KB of it the two MULTIs (ioredis builds a Pipeline for each, copying every command defined on the client onto it); the session read and the holder check are now one Lua script each: 48 KB per CONNECT (ioredis 10.5 KB, promises and arrays 9.8 KB, Node 8.0 KB, debug\'s arrays 4.6 KB, gone since 2026-12-04, the session lifecycle 3.6 KB), and RSS per idle connection 12.6-14.2 KB (four runs) -> 6.7-10.1 KB (eight runs, the machine\'s load varying; this run ${fmt(figure(cluster, 'bytes_per_connection'))}, heap ${mib(figure(cluster, 'heap_total_before_bytes'))} -> ${mib(figure(cluster, 'heap_total_after_bytes'))} committed, ${mib(figure(cluster, 'heap_used_after_bytes'))} used). V8 grows the old generation by up to 4x of what survived, and most of that is then free space in committed pages (heap 21.9 -> 91.6 MiB committed, 17.2 -> 54.3 MiB used, in one run): \`--heap-growing-percent=50\` caps the growth at 1.5x, and meets the target, but costs cross-node throughput (**V8\'s flags**, below). What is left is in ioredis and the session lifecycle\'s promise chain. **Fewer at once** (2026-12-04): what is promoted grows with how many CONNECTs wait at once, not with how many there are. With the bench client keeping 128 connects in flight instead of 500, a fresh cluster node grew by 3,650-3,870 bytes per connection against 6,944-7,655 (two rounds), an embedded node 4,479-4,651 against 4,647-4,936: the embedded node\'s CONNECTs do not wait, so the difference is the waiting. So a cluster node resolves at most \`ROOST_CONNECT_CONCURRENCY\` CONNECTs at once (default 32, packages/broker/src/admission-gate.ts) and the rest wait their turn, holding only their connection; one that takes over from another node gives its place up before it waits on that node (test/cluster/connect-admission.test.ts). With 500 in flight from the client, fresh cluster nodes, interleaved scratch rounds: unbounded 5,140-7,875 bytes per connection (7 runs: 5,140, 5,239, the rest 6,625-7,875), at 128 6,901-6,969, at 64 bimodal, 3,726-4,014 in 8 of 20 runs and 5,047-7,445 in the rest (a full bench:compare run\'s three among them; by \`--trace-gc\` the runs differ in whether a mark-compact lands inside the burst), at 32 4,003-4,953 (6 runs, three of them with a second node beside it as here), at 16 4,447-5,259; 10k connects 1,951-2,510 ms unbounded, 1,526-1,720 at 32, 1,485-1,775 at 16: fewer in flight each wait less, and Redis answers them as fast.`,
    '',
    `What the extra is, and what did not move it (2026-12-03, scratch runs on fresh processes, 10k idle connects, 500 in flight): free space V8 keeps committed, not live state and not garbage. 30 s after the last connect a cluster node\'s old space held 31-38 MiB in use of 69-74 MiB committed, where an embedded node\'s held 27 of 31; the live state per connection is the same, and the rest is pages that live connection state shares with what the waiting CONNECTs promoted and has since died. RSS did not fall over 60 s (once the memory reducer shrank old space from 74 to 52 MiB committed at about 45 s, RSS stayed), and none of it is lazily freed (smaps LazyFree 0 kB). Not kept: batching the directory claims and holder checks of one event-loop turn into one script call each (100 claims in one call; six fresh cluster nodes a side, in two interleaved runs of three: 6,001-7,433 bytes per connection against 6,734-7,722, Redis CPU per 10k CONNECTs 550-700 against 540-650 ms, the connects the same), so the script calls are not what is promoted; \`--compact-on-every-full-gc\` compacts old space to what is in use (31-41 MiB) but RSS growth was 5,598 and 9,851 bytes per connection in two runs, and it evacuates the whole heap on every full GC; \`--gc-memory-reducer-start-delay-ms=1000\`: 6,532 bytes (one run).`,
    '',
    `**What a CONNECT holds while it waits on Redis** (heap snapshots of a cluster node, \`--heapsnapshot-signal\`: at rest, then with 500 CONNECTs read and their Redis paused by SIGSTOP, divided by 500; snapshots count only what is reachable, so this is what outlives the wait, the connection itself included): 11,497 bytes, 35 closures, 29 contexts, 25 promises and 21 promise reactions of it. Per CONNECT the client turn made six promises and a \`finally\` (three closures), every CONNECT opened a promise and two closures for deliveries that almost never come, and the session read waited in an async frame: now three promises and one closure per turn, the pending-deliveries promise made with the first delivery, the read a plain promise chain: 10,254 bytes (24 closures, 25 contexts, 22 promises). A fresh cluster node's 10k idle connections, four interleaved pairs (scripts run apart from bench:compare): 6,571-7,429 -> 5,950-6,774 bytes per connection, lower in every pair by 242-676; connects the same (3,374-4,445 against 3,230-4,608 ms). What still waits per CONNECT: ioredis (for two script calls, a Command, its promise and four closures each), the node's Redis latency timer (a closure and a promise per command), the session lifecycle's async frames, and the socket.`,
  ];
}
