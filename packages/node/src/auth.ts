import { AclFileSource, PasswordFileProvider } from '@roost/auth';
import type { AuthOptions, AuthProvider, Logger } from '@roost/broker';
import type { Config } from './config.ts';

export interface NodeAuth {
  options: AuthOptions;
  /** Stops watching the files. */
  close(): void;
}

/**
 * The providers and rule source the settings name, in the chain's order. Opening them reads
 * their files, so a missing or bad file stops the start with a ConfigError naming the setting.
 */
export function createAuth(config: Config, logger: Logger): NodeAuth {
  const providers: AuthProvider[] = [];
  const closers: Array<() => void> = [];
  try {
    if (config.passwordFile !== undefined) {
      const passwords = new PasswordFileProvider(config.passwordFile, logger);
      providers.push(passwords);
      closers.push(() => passwords.close());
    }
    const rules = config.aclFile === undefined ? undefined : new AclFileSource(config.aclFile, logger);
    if (rules) closers.push(() => rules.close());
    warn(config, providers.length, logger);
    return { options: { providers, allowAnonymous: config.allowAnonymous, rules }, close: () => closers.forEach((close) => close()) };
  } catch (error) {
    closers.forEach((close) => close());
    throw error;
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
