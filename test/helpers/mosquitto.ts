// A real Mosquitto broker for interoperability tests: started with the given mosquitto.conf
// lines on an ephemeral loopback port, ready once it logs that it is running.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from './redis.ts';

export interface RunningMosquitto {
  port: number;
  stop(): Promise<void>;
}

export async function startMosquitto(config: string[]): Promise<RunningMosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'roost-mosquitto-'));
  // As root, Mosquitto drops to its own user before reading files a test made root's only.
  const asRoot = process.getuid?.() === 0 ? ['user root'] : [];
  writeFileSync(join(dir, 'mosquitto.conf'), [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr', 'log_type all', ...asRoot, ...config, ''].join('\n'));
  const child = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  const running = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      lines.push(line);
      if (/mosquitto version .* running/.test(line)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`mosquitto exited (${code}) before running: ${lines.slice(-5).join(' | ')}`)));
    child.once('error', reject);
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await running;
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, stop };
}
