import { createInterface } from 'node:readline';

/**
 * Reads passwords from a terminal without echoing them, or line by line from a pipe
 * (`printf 'pw\npw\n' | npx roost passwd FILE USER`), as mosquitto_passwd does.
 */
export class PasswordPrompt {
  private readonly lines: AsyncIterator<string> | undefined;

  constructor() {
    if (!process.stdin.isTTY) this.lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
  }

  async ask(question: string): Promise<string> {
    if (this.lines) {
      const next = await this.lines.next();
      if (next.done) throw new Error('no password on standard input');
      return next.value;
    }
    return readHidden(question);
  }

  close(): void {
    void this.lines?.return?.();
  }
}

function readHidden(question: string): Promise<string> {
  const { stdin, stderr } = process;
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  let typed = '';
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003' || char === '\u0004') return done(new Error('cancelled'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.on('data', onData);
  });
}
