import { parseArgs } from 'node:util';
import { RedisAuthStore } from '@roost/auth';
import { askTwice, entryFor, SCRAM_OPTIONS, scramOf } from './passwd.ts';
import { UsageError } from './usage-error.ts';

export const USERS_USAGE = `roost users add USER [PASSWORD]        add or change a user in Redis (prompting when no PASSWORD);
                                       --scram-sha-256 or --scram-sha-512 stores a SCRAM entry
roost users del USER                   delete a user
roost users list                       list the users
roost acl set USER 'LINE' ['LINE'…]    replace USER's rules: lines 'topic [read|write|readwrite|deny] FILTER'
roost acl del USER                     delete USER's rules (the ACL file applies again)
roost acl list [USER]                  show the rules
  Against ROOST_REDIS_URL, under ROOST_REDIS_PREFIX (default roost:); every node applies a change at once.`;

type Out = (line: string) => void;

async function withStore(run: (store: RedisAuthStore) => Promise<void>): Promise<void> {
  const url = process.env.ROOST_REDIS_URL;
  if (url === undefined || url === '') throw new Error('ROOST_REDIS_URL is not set');
  const store = new RedisAuthStore(await RedisAuthStore.connection(url), process.env.ROOST_REDIS_PREFIX || 'roost:');
  try {
    await run(store);
  } finally {
    store.redis.disconnect();
  }
}

export async function users(argv: string[], out: Out): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: SCRAM_OPTIONS });
  const scram = scramOf(values);
  const [action, user, password, ...extra] = positionals;
  if (scram !== undefined && action !== 'add') throw new UsageError(USERS_USAGE);
  if (extra.length > 0) throw new UsageError(USERS_USAGE);
  if (action === 'list' && user === undefined) return withStore(async (store) => (await store.users()).forEach((name) => out(name)));
  if (user === undefined) throw new UsageError(USERS_USAGE);
  if (action === 'add') {
    const secret = password ?? (await askTwice());
    if (secret === '') throw new Error('the password is empty');
    const hash = await entryFor(secret, scram);
    return withStore((store) => store.setUser(user, hash));
  }
  if (action === 'del' && password === undefined) {
    return withStore(async (store) => {
      if (!(await store.deleteUser(user))) throw new Error(`user ${user} is not in Redis`);
      out(`deleted ${user}`);
    });
  }
  throw new UsageError(USERS_USAGE);
}

export async function acl(argv: string[], out: Out): Promise<void> {
  const [action, user, ...lines] = argv;
  if (action === 'list' && lines.length === 0) {
    return withStore(async (store) => {
      const all = user === undefined ? await store.acls() : new Map([[user, (await store.acl(user)) ?? '']]);
      for (const [name, text] of [...all].sort(([a], [b]) => a.localeCompare(b))) {
        out(`user ${name}`);
        for (const line of text.split('\n').filter((l) => l !== '')) out(line);
      }
    });
  }
  if (user === undefined) throw new UsageError(USERS_USAGE);
  if (action === 'set' && lines.length > 0) return withStore((store) => store.setAcl(user, lines));
  if (action === 'del' && lines.length === 0) {
    return withStore(async (store) => {
      if (!(await store.deleteAcl(user))) throw new Error(`no rules for ${user} in Redis`);
      out(`deleted the rules of ${user}`);
    });
  }
  throw new UsageError(USERS_USAGE);
}
