// `npm run bench:compare`: starts each broker on free loopback ports (Roost single-node, a
// Roost 2-node cluster with Redis, Mosquitto, Aedes in memory and in Redis mode), runs the
// same roost-bench scenarios against each in one run, and writes docs/benchmarks.md with
// tables and SVG charts (docs/bench/), every figure also as a ratio against Mosquitto (the TLS
// and WebSocket fan-in: against Roost's plain fan-in). The TLS and WebSocket rows run on broker
// processes started with those listeners, with a CA and server certificate made for the run;
// the security rows on Roost and Mosquitto started with a password and an ACL file made for it.
// The rows compared with Roost's own plain rows run as interleaved pairs (scripts/bench/pairs.ts).
// `--only id,id` runs just those rows of the plan (Mosquitto's included, and the rows their
// ratios are taken against) and merges them into the last run's docs/bench/results.json;
// `--report-only` re-renders from it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { runScenario, parseOptions, type BenchResult } from '../packages/bench/src/index.ts';
import { writeAuthFiles, type AuthFiles } from './bench/auth-files.ts';
import { startAedes, startAedesRedis, startAedesWs, startMosquitto, startMosquittoSecured, startMosquittoTls, startRoost, startRoostCluster, startRoostCluster3, startRoostEdge, startRoostSecured, type RunningBroker, type SecurityFiles, type ServerCertificate, type Transport } from './bench/brokers.ts';
import { cpuSeconds, interleavedPairs, isPaired, withBrokerCpu, type Sample } from './bench/pairs.ts';
import { medianOfFresh } from './bench/fresh-repeats.ts';
import { FLOOD_SECONDS, FRESH_SETTLE_MS, PLAN, type PlannedRun } from './bench/plan.ts';
import { writeReport, type Environment, type Results, type RunResult } from './bench/report.ts';
import { TestCa } from './lib/certs.ts';

const root = new URL('..', import.meta.url);

interface BrokerEntry {
  name: string;
  kind: 'single' | 'cluster';
  start: () => Promise<RunningBroker>;
  /** The process for the TLS and WebSocket rows, with the listeners it has of those. */
  edge?: { transports: Transport[]; start: (cert: ServerCertificate) => Promise<RunningBroker> };
  /** The process for the security rows, with the run's password file and ACL file. */
  secured?: (files: SecurityFiles) => Promise<RunningBroker>;
}

const BROKERS: BrokerEntry[] = [
  { name: 'mosquitto', kind: 'single', start: startMosquitto, edge: { transports: ['tls'], start: startMosquittoTls }, secured: startMosquittoSecured },
  { name: 'roost', kind: 'single', start: startRoost, edge: { transports: ['tls', 'ws'], start: startRoostEdge }, secured: startRoostSecured },
  { name: 'aedes', kind: 'single', start: startAedes, edge: { transports: ['ws'], start: startAedesWs } },
  { name: 'roost-cluster', kind: 'cluster', start: startRoostCluster },
  { name: 'aedes-redis', kind: 'cluster', start: startAedesRedis },
  { name: 'roost-cluster-3', kind: 'cluster', start: startRoostCluster3 },
];

function applies(run: PlannedRun, broker: BrokerEntry, only: Set<string> | undefined): boolean {
  if (run.reuse || (only && !only.has(run.id))) return false;
  if (run.transport && !broker.edge?.transports.includes(run.transport)) return false;
  if (run.secured && !broker.secured) return false;
  // The three-node cluster is there for the SUBSCRIBE latency row only.
  if (run.brokers === 'subscribe') return ['mosquitto', 'roost', 'roost-cluster-3'].includes(broker.name);
  if (broker.name === 'roost-cluster-3') return false;
  if (run.brokers === 'all') return true;
  if (run.brokers === 'roost' || run.brokers === 'roost-cluster') return broker.name === run.brokers;
  return run.brokers === broker.kind;
}

function argsFor(run: PlannedRun, broker: RunningBroker, cert: ServerCertificate | undefined, auth: AuthFiles | undefined): string[] {
  const url = run.transport ? broker.transportUrls?.[run.transport] : broker.url;
  if (!url) throw new Error(`${broker.name} has no ${run.transport} listener`);
  const args = ['--scenario', run.scenario, '--url', url, '--label', broker.name, '--duration', String(FLOOD_SECONDS), '--timeout', '60', '--pid', String(broker.pid)];
  if (run.transport === 'tls') args.push('--ca', cert!.caFile);
  if (run.secured) args.push('--username', auth!.username, '--password', auth!.password);
  if (run.scenario === 'idle' && broker.metricsUrl) args.push('--http', broker.metricsUrl);
  if (run.scenario === 'cross-node' || run.acrossNodes) args.push('--pub-url', broker.url, '--sub-url', broker.secondUrl!);
  return [...args, ...run.args];
}

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
  } catch (error) {
    // mosquitto -h prints its version and exits 3.
    const out = (error as { stdout?: string }).stdout ?? '';
    return out.split('\n')[0]!.trim() || 'unknown';
  }
}

function packageVersion(path: string): string {
  return (JSON.parse(readFileSync(new URL(path, root), 'utf8')) as { version: string }).version;
}

async function measure(run: PlannedRun, broker: RunningBroker, cert?: ServerCertificate, auth?: AuthFiles): Promise<Sample> {
  try {
    return await runScenario(run.scenario as BenchResult['scenario'], parseOptions(argsFor(run, broker, cert, auth)));
  } catch (error) {
    return { failed: (error as Error).message };
  }
}

async function started(name: string, start: () => Promise<RunningBroker>, environment: Environment): Promise<RunningBroker | undefined> {
  try {
    const broker = await start();
    environment.settings[name] = broker.settings;
    return broker;
  } catch (error) {
    process.stderr.write(`cannot start ${name}: ${(error as Error).message}\n`);
    environment.settings[name] = `did not start: ${(error as Error).message}`;
    return undefined;
  }
}

/** Runs `runs` one after another on one broker process started for them. */
async function onOneProcess(name: string, start: () => Promise<RunningBroker>, runs: PlannedRun[], results: Results, environment: Environment, cert?: ServerCertificate, auth?: AuthFiles): Promise<void> {
  if (runs.length === 0) return;
  const broker = await started(name, start, environment);
  if (!broker) return;
  try {
    for (const run of runs) record(results, run, broker.name, await measure(run, broker, cert, auth));
  } finally {
    await broker.stop();
  }
}

/** One sample of `run` on a broker process started for it alone. */
async function sampleOn(name: string, start: () => Promise<RunningBroker>, run: PlannedRun, environment: Environment, cert?: ServerCertificate, auth?: AuthFiles): Promise<Sample> {
  const broker = await started(name, start, environment);
  if (!broker) return { failed: `${name} did not start` };
  try {
    const cpuBefore = cpuSeconds(broker.pid);
    const sample = await measure(run, broker, cert, auth);
    return withBrokerCpu(sample, cpuSeconds(broker.pid) - cpuBefore);
  } finally {
    await broker.stop();
  }
}

const EDGE = (entry: BrokerEntry) => `${entry.name} (TLS/WebSocket rows)`;
const SECURED = (entry: BrokerEntry) => `${entry.name} (password and ACL rows)`;

/** A row against Roost's own plain row: pairs of samples, its process and the plain one's. */
function pairedRun(run: PlannedRun, entry: BrokerEntry, environment: Environment, cert?: ServerCertificate, auth?: AuthFiles): Promise<RunResult> {
  const plain = PLAN.find((r) => r.id === run.baseline)!;
  const variant = run.secured ? () => sampleOn(SECURED(entry), () => entry.secured!(auth!), run, environment, undefined, auth) : () => sampleOn(EDGE(entry), () => entry.edge!.start(cert!), run, environment, cert);
  return interleavedPairs(run, variant, () => sampleOn(entry.name, entry.start, plain, environment));
}

/** The runs whose rows `only` names, and those their ratios are taken against (same run). */
function withBaselines(only: Set<string>): Set<string> {
  return new Set([...only, ...PLAN.filter((run) => only.has(run.id) && run.baseline).map((run) => run.baseline!)]);
}

function record(results: Results, run: PlannedRun, name: string, result: Sample | RunResult): void {
  process.stderr.write(`${run.id}: ${JSON.stringify(result)}\n`);
  (results[run.id] ??= {})[name] = result;
}

async function main(only: Set<string> | undefined): Promise<void> {
  const started_ = Date.now();
  // Roost runs compiled, as `npm start` runs it.
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: new URL('.', root), stdio: 'inherit' });
  const environment: Environment = {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadBefore: loadavg().map((l) => l.toFixed(2)).join(' '),
    loadAfter: '',
    versions: {
      node: process.version,
      roost: packageVersion('package.json'),
      mosquitto: version('mosquitto', ['-h']),
      aedes: packageVersion('node_modules/aedes/package.json'),
      'aedes-persistence-redis': packageVersion('node_modules/aedes-persistence-redis/package.json'),
      'mqemitter-redis': packageVersion('node_modules/mqemitter-redis/package.json'),
      redis: version('redis-server', ['--version']),
    },
    settings: {},
    elapsedS: 0,
  };
  const results: Results = {};
  const ca = PLAN.some((run) => run.transport && (!only || only.has(run.id))) ? new TestCa('Roost Bench CA') : undefined;
  const cert = ca && { caFile: ca.caFile, ...ca.server('roost-bench-server') };
  const auth = PLAN.some((run) => run.secured && (!only || only.has(run.id))) ? writeAuthFiles() : undefined;
  try {
    for (const entry of BROKERS) {
      const runs = PLAN.filter((run) => applies(run, entry, only));
      if (runs.length === 0) continue;
      process.stderr.write(`\n== ${entry.name}\n`);
      for (const run of runs.filter((r) => r.fresh)) {
        const samples: Sample[] = [];
        for (let repeat = 0; repeat < (run.repeats ?? 1); repeat++) {
          const broker = await started(entry.name, entry.start, environment);
          if (!broker) break;
          try {
            await delay(FRESH_SETTLE_MS);
            samples.push(await measure(run, broker));
          } finally {
            await broker.stop();
          }
        }
        if (samples.length > 0) record(results, run, entry.name, run.repeats ? medianOfFresh(samples) : samples[0]!);
      }
      await onOneProcess(entry.name, entry.start, runs.filter((r) => !r.fresh && !r.transport && !r.secured), results, environment);
      // Only the broker a row is compared with runs it in pairs (Roost); the others run it once.
      const paired = (r: PlannedRun) => isPaired(r) && r.baselineBroker === entry.name;
      const edge = runs.filter((r) => r.transport && !paired(r));
      if (entry.edge && cert) await onOneProcess(EDGE(entry), () => entry.edge!.start(cert), edge, results, environment, cert);
      const secured = runs.filter((r) => r.secured && !paired(r));
      if (entry.secured && auth) await onOneProcess(SECURED(entry), () => entry.secured!(auth), secured, results, environment, undefined, auth);
      for (const run of runs.filter(paired)) record(results, run, entry.name, await pairedRun(run, entry, environment, cert, auth));
    }
  } finally {
    ca?.remove();
    auth?.remove();
  }
  for (const run of PLAN) if (run.reuse && results[run.reuse]) results[run.id] = results[run.reuse]!;
  environment.loadAfter = loadavg().map((l) => l.toFixed(2)).join(' ');
  environment.elapsedS = Math.round((Date.now() - started_) / 1000);
  let merged = results;
  if (only) {
    // A partial run replaces its rows in the last full run's results.
    const last = JSON.parse(readFileSync(new URL('docs/bench/results.json', root), 'utf8')) as { environment: Environment; results: Results };
    merged = { ...last.results, ...results };
    environment.partial = [...only].join(', ');
    // The kept rows' brokers stay described: a rerun names only the processes it started.
    environment.settings = { ...last.environment.settings, ...environment.settings };
    // Reruns accumulate: each --only run's rows and date stay named, and the full run's date.
    environment.fullRunDate = last.environment.fullRunDate ?? (last.environment.partial ? undefined : last.environment.date);
    environment.earlierReruns = [...(last.environment.earlierReruns ?? []), ...(last.environment.partial ? [`${last.environment.date}: ${last.environment.partial}`] : [])];
  }
  mkdirSync(new URL('docs/bench/', root), { recursive: true });
  writeFileSync(new URL('docs/bench/results.json', root), `${JSON.stringify({ environment, results: merged }, null, 2)}\n`);
  writeReport(root, environment, merged);
  process.stderr.write(`\nwrote docs/benchmarks.md in ${environment.elapsedS} s\n`);
}

if (process.argv.includes('--report-only')) {
  // Re-renders docs/benchmarks.md from the last run's docs/bench/results.json.
  const { environment, results } = JSON.parse(readFileSync(new URL('docs/bench/results.json', root), 'utf8')) as { environment: Environment; results: Results };
  writeReport(root, environment, results);
} else {
  const index = process.argv.indexOf('--only');
  await main(index > 0 ? withBaselines(new Set(process.argv[index + 1]!.split(','))) : undefined);
}
