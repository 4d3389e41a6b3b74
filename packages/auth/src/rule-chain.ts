import type { ClientIdentity, ClientRules, RuleSource } from '@roost/broker';

/** A rule source that may hold rules for some clients only (per-user rules in Redis). */
export interface PartialRuleSource extends RuleSource {
  /** Whether this source has rules for the client; if not, the next source is asked. Absent: it covers everyone (the ACL file). */
  covers?(identity: ClientIdentity): boolean;
}

/**
 * Several rule sources in order: a client's rules are those of the first source that has
 * some for it (a user's rules in Redis before the ACL file), never a mix, so one source's
 * deny cannot be undone by another's grant. A client no source covers gets what the last
 * source compiles for it (the file's patterns, or nothing).
 */
export class RuleChain implements RuleSource {
  readonly name: string;
  private readonly sources: readonly PartialRuleSource[];

  constructor(sources: readonly PartialRuleSource[]) {
    this.sources = sources;
    this.name = sources.map((source) => source.name).join('+');
  }

  /** Any member's reload recompiles every client: its rules may now come from another member. */
  get generation(): number {
    let sum = 0;
    for (const source of this.sources) sum += source.generation;
    return sum;
  }

  compile(identity: ClientIdentity): ClientRules {
    const source = this.sources.find((candidate) => candidate.covers?.(identity) !== false) ?? this.sources.at(-1)!;
    return source.compile(identity);
  }
}
