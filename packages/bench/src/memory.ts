// The broker's resident memory, for bytes per idle connection: VmRSS from /proc/<pid>/status
// (any broker on this machine), or process_resident_memory_bytes from a Prometheus /metrics.
import { readFile } from 'node:fs/promises';
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

async function scrapeRss(url: string): Promise<number> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new BenchError(`${url}: HTTP ${response.status}`);
  const body = await response.text();
  const match = /^(?:\w+_)?process_resident_memory_bytes(?:\{[^}]*\})?\s+([0-9.e+]+)/m.exec(body);
  if (!match) throw new BenchError(`${url}: no process_resident_memory_bytes metric`);
  return Number(match[1]);
}
