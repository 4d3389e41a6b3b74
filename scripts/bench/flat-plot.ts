// docs/bench/idle-flat.png: the flat-cost rows plotted with gnuplot (Debian's gnuplot-nox), RSS
// per idle connection and RSS growth against connections with their least-squares line. Without
// gnuplot on PATH the report says so and keeps the SVG bars only.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface FlatPoint {
  connections: number;
  bytesPerConnection: number;
  growthBytes: number;
}

const MiB = 2 ** 20;

/** Renders the PNG; returns why not when it cannot (no gnuplot, or it failed). */
export function renderFlatPng(root: URL, points: FlatPoint[], fit: { slope: number; intercept: number } | undefined): { ok: true } | { ok: false; why: string } {
  const dir = mkdtempSync(join(tmpdir(), 'roost-flat-plot-'));
  try {
    const data = join(dir, 'flat.dat');
    writeFileSync(data, points.map((p) => `${p.connections} ${p.bytesPerConnection} ${(p.growthBytes / MiB).toFixed(3)}`).join('\n') + '\n');
    const output = fileURLToPath(new URL('docs/bench/idle-flat.png', root));
    const line = fit ? `, (${fit.slope / MiB} * x + ${fit.intercept / MiB}) axes x1y2 with lines lw 2 dt 2 lc rgb '#6b7280' title sprintf('least squares: %d bytes per connection + %.1f MiB', ${Math.round(fit.slope)}, ${fit.intercept / MiB})` : '';
    const script = [
      "set terminal pngcairo size 900,540 font 'sans,11'",
      `set output '${output}'`,
      "set title 'Roost, fresh node per row: RSS growth per idle connection (MQTT 3.1.1, keep alive 60, 500 connects in flight)'",
      "set xlabel 'idle connections'",
      "set ylabel 'bytes per connection (RSS growth / connections)'",
      "set y2label 'RSS growth (MiB)'",
      'set ytics nomirror',
      'set y2tics',
      'set xrange [0:20000]',
      'set yrange [0:*]',
      'set y2range [0:*]',
      'set grid',
      'set key below',
      `plot '${data}' using 1:2 with linespoints lw 2 pt 7 ps 1.5 lc rgb '#d97706' title 'bytes per connection (left)', '' using 1:2:(sprintf('%d', $2)) with labels offset 0,1.2 notitle, '' using 1:3 axes x1y2 with points pt 5 ps 1.3 lc rgb '#1e40af' title 'RSS growth, MiB (right)'${line}`,
    ].join('\n');
    execFileSync('gnuplot', [], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
    return { ok: true };
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    return { ok: false, why: missing ? 'gnuplot is not installed (apt-get install gnuplot-nox)' : `gnuplot failed: ${(error as Error).message.split('\n')[0]}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
