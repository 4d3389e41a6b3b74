#!/usr/bin/env node
// npx roost: the operator's tool. Thin: each command parses its arguments and calls packages/auth.
import { passwd, PASSWD_USAGE } from './passwd.ts';
import { acl, users, USERS_USAGE } from './redis-commands.ts';
import { UsageError } from './usage-error.ts';

const USAGE = `usage:
${PASSWD_USAGE}
${USERS_USAGE}`;

const commands: Record<string, (argv: string[], out: (line: string) => void) => Promise<void>> = { passwd, users, acl };

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : commands[name];
  if (command === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    await command(rest, (line) => process.stdout.write(`${line}\n`));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    // Node's own argument errors (an unknown flag) are usage errors too.
    const code = (error as NodeJS.ErrnoException).code;
    process.stderr.write(`roost ${name}: ${(error as Error).message}\n`);
    return code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
