// The broker's resident memory, for bytes per idle connection: VmRSS from /proc/<pid>/status
// (any broker on this machine), or process_resident_memory_bytes from a Prometheus /metrics.
// With both, a Node broker's /metrics (prom-client's default metrics) also splits it: V8 heap
// used and total, the young generation, and memory outside the heap. The same moment's RSS is
// also read two other ways, as a check on the figure: `ps` and /proc/<pid>/smaps_rollup.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { BenchError } from './client.ts';

export interface MemorySource {
  pid?: number;
  http?: string;
}

export async function residentBytes(source: MemorySource): Promise<number | undefined> {
  if (source.pid !== undefined) return vmRss(source.pid);
  if (source.http !== undefined) return scrapeRss(source.http);
  return undefined;
}

async function vmRss(pid: number): Promise<number> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch (error) {
    throw new BenchError(`cannot read /proc/${pid}/status: ${(error as Error).message}`);
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new BenchError(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

export interface RssCheck {
  /** `ps -o rss=`: procps reads /proc/<pid>/stat, a file and a parser of its own. */
  ps_bytes?: number;
  /** smaps_rollup's Rss: the kernel walks the page tables, rather than reading its counters. */
  smaps_bytes?: number;
}

/** RSS read by `ps` and from smaps_rollup, beside VmRSS; {} without a pid or when either fails. */
export async function rssCheck(source: MemorySource): Promise<RssCheck> {
  if (source.pid === undefined) return {};
  const pid = String(source.pid);
  const [ps, smaps] = await Promise.allSettled([promisify(execFile)('ps', ['-o', 'rss=', '-p', pid]), readFile(`/proc/${pid}/smaps_rollup`, 'utf8')]);
  const kib = (text: string | undefined) => (text === undefined || !/^\d+$/.test(text) ? undefined : Number(text) * 1024);
  return {
    ps_bytes: kib(ps.status === 'fulfilled' ? ps.value.stdout.trim() : undefined),
    smaps_bytes: kib(smaps.status === 'fulfilled' ? /^Rss:\s+(\d+) kB$/m.exec(smaps.value)?.[1] : undefined),
  };
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new BenchError(`${url}: HTTP ${response.status}`);
  return response.text();
}

function metric(body: string, name: string, labels = ''): number | undefined {
  const match = new RegExp(`^(?:\\w+_)?${name}(?:\\{${labels}[^}]*\\})?\\s+([0-9.e+]+)`, 'm').exec(body);
  return match ? Number(match[1]) : undefined;
}

async function scrapeRss(url: string): Promise<number> {
  const rss = metric(await scrape(url), 'process_resident_memory_bytes');
  if (rss === undefined) throw new BenchError(`${url}: no process_resident_memory_bytes metric`);
  return rss;
}

export interface HeapSplit {
  heap_used_bytes?: number;
  heap_total_bytes?: number;
  new_space_bytes?: number;
  external_bytes?: number;
}

/** The V8 heap split of a Node broker with prom-client's default metrics; {} for others. */
export async function heapSplit(source: MemorySource): Promise<HeapSplit> {
  if (source.pid === undefined || source.http === undefined) return {};
  const body = await scrape(source.http);
  return {
    heap_used_bytes: metric(body, 'nodejs_heap_size_used_bytes'),
    heap_total_bytes: metric(body, 'nodejs_heap_size_total_bytes'),
    new_space_bytes: metric(body, 'nodejs_heap_space_size_total_bytes', 'space="new"'),
    external_bytes: metric(body, 'nodejs_external_memory_bytes'),
  };
}
