import type { PartialRuleSource, RedisAuthStore, UserLookup } from '@roost/auth';
import type { AuthOptions, AuthProvider, Logger, RuleSource } from '@roost/broker';
import { hasProvider } from './auth-settings.ts';
import type { Config } from './config.ts';

export interface NodeAuth {
  options: AuthOptions;
  /** Reads what lives in Redis (the ACL rules) and follows its changes; before the listeners open. */
  start(): Promise<void>;
  /** Stops watching the files and closes the Redis connections. */
  close(): void;
}

/**
 * The providers and rule sources the settings name, in the chain's documented order:
 * certificate identity, password file, Redis users, JWT, HTTP; rules from Redis (a user's own)
 * before the ACL file. SCRAM (MQTT 5 enhanced authentication) is offered over the users of the
 * password file and Redis whenever either is configured. Opening them reads their files, so a missing or bad file stops the start
 * with a ConfigError naming the setting.
 */
export async function createAuth(config: Config, logger: Logger): Promise<NodeAuth> {
  // A node without any of them (the default) does not load @roost/auth: 0.7 MiB of RSS at rest.
  if (!configured(config)) {
    warn(config, 0, logger);
    return { options: { providers: [], allowAnonymous: config.allowAnonymous, rules: undefined }, start: async () => {}, close: () => {} };
  }
  const lib = await import('@roost/auth');
  const providers: AuthProvider[] = [];
  const closers: Array<() => void> = [];
  const starters: Array<() => Promise<void>> = [];
  const { auth } = config;
  const lookups: UserLookup[] = [];
  try {
    if (auth.tlsIdentity !== undefined) providers.push(new lib.CertificateIdentityProvider(auth.tlsIdentity));
    if (config.passwordFile !== undefined) {
      const passwords = new lib.PasswordFileProvider(config.passwordFile, logger);
      providers.push(passwords);
      lookups.push(passwords.entryOf);
      closers.push(() => passwords.close());
    }
    const sources: PartialRuleSource[] = [];
    let store: RedisAuthStore | undefined;
    if (auth.redisUsers || auth.redisAcl) store = await redisAuth(lib, config, logger, { providers, sources, closers, starters, lookups });
    if (lookups.length > 0) providers.push(new lib.ScramProvider({ lookups, decoySecret: await decoySecret(lib, config, store, logger) }));
    if (auth.jwt !== undefined) {
      // jose, which verifies the tokens, loads with it: 1.9 MiB of RSS no other node needs.
      const { JwtProvider } = await import('@roost/auth/jwt');
      const jwt = new JwtProvider(auth.jwt, logger);
      providers.push(jwt);
      closers.push(() => jwt.close());
    }
    if (auth.http !== undefined) providers.push(new lib.HttpAuthProvider(auth.http, logger));
    if (config.aclFile !== undefined) {
      const file = new lib.AclFileSource(config.aclFile, logger);
      sources.push(file);
      closers.push(() => file.close());
    }
    const rules: RuleSource | undefined = sources.length <= 1 ? sources[0] : new lib.RuleChain(sources);
    warn(config, providers.length, logger);
    return {
      options: { providers, allowAnonymous: config.allowAnonymous, rules },
      start: async () => {
        for (const start of starters) await start();
      },
      close: () => closers.forEach((close) => close()),
    };
  } catch (error) {
    closers.forEach((close) => close());
    throw error;
  }
}

type AuthLibrary = typeof import('@roost/auth');

/** Whether any provider or rule source is configured. */
function configured(config: Config): boolean {
  const { auth } = config;
  return config.passwordFile !== undefined || config.aclFile !== undefined || hasProvider(auth) || auth.redisAcl;
}

interface Parts {
  providers: AuthProvider[];
  lookups: UserLookup[];
  sources: PartialRuleSource[];
  closers: Array<() => void>;
  starters: Array<() => Promise<void>>;
}

/** The Redis users provider and ACL source, on connections of their own (a subscribed one runs no other commands). */
async function redisAuth(lib: AuthLibrary, config: Config, logger: Logger, parts: Parts): Promise<RedisAuthStore> {
  const url = config.redisUrl!;
  const redis = await lib.RedisAuthStore.connection(url);
  parts.closers.push(() => redis.disconnect());
  const store = new lib.RedisAuthStore(redis, config.redisPrefix);
  if (config.auth.redisUsers) {
    const users = new lib.RedisUserProvider(store);
    parts.providers.push(users);
    parts.lookups.push(users.entryOf);
  }
  if (config.auth.redisAcl) {
    // Commands on a subscribed connection wait for it to come back rather than fail.
    const subscriber = await lib.RedisAuthStore.connection(url, { maxRetriesPerRequest: null });
    parts.closers.push(() => subscriber.disconnect());
    const acl = new lib.RedisAclSource(store, subscriber, logger);
    parts.sources.push(acl);
    parts.starters.push(() => acl.start());
  }
  return store;
}

/**
 * The secret behind the made-up salts SCRAM shows for unknown users: shared through Redis when
 * there is one, so that every node of a cluster shows the same salt, as it does for a real user.
 */
async function decoySecret(lib: AuthLibrary, config: Config, store: RedisAuthStore | undefined, logger: Logger): Promise<Buffer | undefined> {
  if (config.redisUrl === undefined) return undefined;
  // Without Redis users or rules there is no auth connection: one for this read alone.
  const redis = store === undefined ? await lib.RedisAuthStore.connection(config.redisUrl) : undefined;
  try {
    return await (store ?? new lib.RedisAuthStore(redis!, config.redisPrefix)).sharedSecret();
  } catch (error) {
    logger.warn({ err: error }, 'SCRAM: no shared secret from Redis; unknown users get salts of this node alone');
    return undefined;
  } finally {
    redis?.disconnect();
  }
}

function warn(config: Config, providers: number, logger: Logger): void {
  if (providers === 0 && config.allowAnonymous) {
    logger.warn(
      { aclFile: config.aclFile },
      config.aclFile === undefined
        ? 'no authentication configured: anonymous clients may connect and use every topic (set ROOST_PASSWORD_FILE and ROOST_ACL_FILE)'
        : 'no authentication configured: every client is anonymous, and gets the ACL rules before any user line (set ROOST_PASSWORD_FILE)',
    );
  } else if (providers > 0 && config.allowAnonymous) {
    logger.warn({}, 'ROOST_ALLOW_ANONYMOUS=true: clients without a user name may connect');
  }
}
