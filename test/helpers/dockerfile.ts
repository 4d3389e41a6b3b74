// Reads a Dockerfile and a .dockerignore the way `docker build` does, far enough for tests
// that check an image's recipe on machines without a Docker engine.

export interface Instruction {
  /** Upper-case keyword: FROM, COPY, RUN... */
  keyword: string;
  /** The rest of the instruction, continuation lines joined. */
  args: string;
}

export interface Stage {
  /** `FROM <image> [AS <name>]` */
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions grouped by build stage, comments and line continuations resolved. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  if (pending !== '') throw new Error(`Dockerfile ends inside a continued line: ${pending}`);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    const upper = keyword!.toUpperCase();
    if (upper === 'FROM') {
      const [image, as, name] = args!.replace(/--platform=\S+\s+/, '').split(/\s+/);
      stages.push({ image: image!, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      if (upper === 'ARG') continue;
      throw new Error(`${upper} before the first FROM`);
    }
    stages.at(-1)!.instructions.push({ keyword: upper, args: args! });
  }
  return stages;
}

/** An exec-form (JSON array) argument, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  return JSON.parse(args) as string[];
}

export interface CopyArgs {
  from: string | undefined;
  sources: string[];
  destination: string;
}

export function parseCopy(args: string): CopyArgs {
  const words = execForm(args) ?? args.split(/\s+/);
  const flags = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
}

/**
 * Whether `path` (relative to the context, `/`-separated) is left out of the build context:
 * the last pattern matching it or one of its parent directories decides, `!` re-including.
 * Patterns are anchored at the context root, `**` spans directories (moby's patternmatcher).
 */
export function dockerIgnored(patterns: readonly string[], path: string): boolean {
  const parts = path.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const regex = globToRegex(negated ? pattern.slice(1) : pattern);
    if (candidates.some((candidate) => regex.test(candidate))) ignored = !negated;
  }
  return ignored;
}

export function parseDockerignore(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.replace(/^\/+/, '').replace(/\/+$/, ''));
}

function globToRegex(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i]!;
    if (glob.startsWith('**/', i)) {
      source += '(?:.*/)?';
      i += 2;
    } else if (glob.startsWith('**', i)) {
      source += '.*';
      i += 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
