import { ConfigError } from '@roost/protocol';
import type { ClientIdentity, ClientRules, Logger, RuleSource } from '@roost/broker';
import { parseAclFile, type AclFileRules } from './acl-parse.ts';
import { compileAclFile } from './acl-rules.ts';
import { readConfigFile, WatchedFile } from './watched-file.ts';

/**
 * ROOST_ACL_FILE, in Mosquitto's acl_file format. A file with a bad line is refused whole, at
 * start and on reload: skipping a `deny` line would grant what it denied. A reload bumps the
 * generation, and every connected client's rules are compiled again at its next check.
 */
export class AclFileSource implements RuleSource {
  readonly name = 'acl-file';
  /** The loaded file, split into levels once: each CONNECT (and each client after a reload) only picks its part. */
  private current: (identity: ClientIdentity) => ClientRules;
  private version = 1;
  private readonly file: WatchedFile;
  private readonly log: Logger;

  constructor(path: string, log: Logger) {
    this.log = log;
    const text = readConfigFile(path, 'ROOST_ACL_FILE');
    const { rules, problems } = parseAclFile(text);
    if (problems.length > 0) {
      const { line, reason } = problems[0]!;
      throw new ConfigError('ROOST_ACL_FILE', `${path} line ${line}: ${reason}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`);
    }
    this.current = compileAclFile(rules);
    log.info({ file: path, ...counts(rules) }, 'ACL file loaded');
    this.file = new WatchedFile(path, text, log, (next) => this.reload(path, next));
    this.file.watch();
  }

  get generation(): number {
    return this.version;
  }

  compile(identity: ClientIdentity): ClientRules {
    return this.current(identity);
  }

  close(): void {
    this.file.close();
  }

  private reload(path: string, text: string): void {
    const { rules, problems } = parseAclFile(text);
    if (problems.length > 0) {
      for (const { line, reason } of problems) this.log.error({ file: path, line, reason }, 'ACL file line refused');
      this.log.error({ file: path }, 'ACL file reload failed; keeping the previous rules');
      return;
    }
    this.current = compileAclFile(rules);
    this.version++;
    this.log.info({ file: path, ...counts(rules) }, 'ACL file reloaded; connected clients get the new rules');
  }
}

function counts(rules: AclFileRules): Record<string, number> {
  let userRules = 0;
  for (const list of rules.users.values()) userRules += list.length;
  return { anonymousRules: rules.anonymous.length, users: rules.users.size, userRules, patterns: rules.patterns.length };
}
