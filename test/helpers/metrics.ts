// Reading a node's /metrics the way Prometheus does: the text format parsed into samples, and
// Debian's promtool as the judge of the format.
import { spawn } from 'node:child_process';

/** One line of the text format: `name{label="v",...} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export async function scrapeText(httpPort: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return response.text();
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The metrics of one scrape: a series' value by name and (a subset of) its labels. */
export class Scrape {
  readonly samples: Sample[];

  constructor(text: string) {
    this.samples = parseSamples(text);
  }

  static async of(httpPort: number): Promise<Scrape> {
    return new Scrape(await scrapeText(httpPort));
  }

  /** The sum of every series of `name` whose labels include `labels`; 0 when there is none. */
  value(name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const sample of this.samples) {
      if (sample.name !== name) continue;
      if (Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) sum += sample.value;
    }
    return sum;
  }

  has(name: string): boolean {
    return this.samples.some((sample) => sample.name === name);
  }

  /** Metric names as exported, a histogram's `_bucket`, `_sum` and `_count` series included. */
  names(): Set<string> {
    return new Set(this.samples.map((sample) => sample.name));
  }
}

/** Runs `promtool <args>` with `input` on stdin; its exit code and output. */
export function promtool(args: string[], input?: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

/** Scrapes until `check` holds (each scrape is a fresh read of the counters); bounded by `ms`. */
export async function untilScrape(httpPort: number, check: (scrape: Scrape) => boolean, ms = 5_000): Promise<Scrape> {
  const deadline = Date.now() + ms;
  for (;;) {
    const scrape = await Scrape.of(httpPort);
    if (check(scrape)) return scrape;
    if (Date.now() > deadline) throw new Error(`metrics did not reach the expected state within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
