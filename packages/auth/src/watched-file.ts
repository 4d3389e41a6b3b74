import { readFile } from 'node:fs/promises';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '@roost/broker';
import { ConfigError } from '@roost/protocol';

/** Reads a configured file at start: one that cannot be read stops the start, naming `setting`. */
export function readConfigFile(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(setting, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** An editor's save (write, rename, chmod) makes several events; those within this window make one reload. */
const RELOAD_COALESCE_MS = 100;

/**
 * A configuration file read again when it changes. The directory is watched, not the file: an
 * editor or a Kubernetes secret replaces the file (rename, symlink swap), which a watch on the
 * old inode never sees.
 */
export class WatchedFile {
  private readonly path: string;
  private readonly log: Logger;
  private readonly onChange: (text: string) => void;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last: string;

  /** `text` is the content as first read; `onChange` gets each different content after that. */
  constructor(path: string, text: string, log: Logger, onChange: (text: string) => void) {
    this.path = path;
    this.last = text;
    this.log = log;
    this.onChange = onChange;
  }

  watch(): void {
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
      // Some platforms do not name the file: reload then too; an unchanged file is ignored below.
      if (file === null || file === name || file.startsWith('..')) this.schedule();
    });
    this.watcher.on('error', (error) => this.log.warn({ err: error, file: this.path }, 'watching failed; the file is no longer reloaded'));
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), RELOAD_COALESCE_MS);
    this.timer.unref();
  }

  private async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      // Mid-rotation the file may be missing for a moment; the next event reloads it.
      this.log.warn({ file: this.path, err: (error as NodeJS.ErrnoException).code ?? (error as Error).message }, 'cannot read the file; keeping what was loaded');
      return;
    }
    if (text === this.last) return;
    this.last = text;
    this.onChange(text);
  }
}
