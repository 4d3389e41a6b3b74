/** A command line that does not parse: its message is the usage text, and the exit code is 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
