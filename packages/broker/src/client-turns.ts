const RESOLVED = Promise.resolve();

/**
 * What happens to one client id's session (CONNECTs, adoption of a dead node's sessions, an
 * operator's discard) happens one task after another, so exactly one of two racing CONNECTs
 * wins and no adoption interleaves with a CONNECT.
 */
export class ClientTurns {
  private readonly turns = new Map<string, Promise<void>>();

  /**
   * Runs `task` after every earlier one for `clientId` has settled; its failure goes to `onError`.
   * Three promises and one closure per turn: every CONNECT takes one, and while hundreds wait
   * on Redis what they hold outlives scavenges.
   */
  run(clientId: string, task: () => Promise<void>, onError: (error: unknown) => void): Promise<void> {
    const run = (this.turns.get(clientId) ?? RESOLVED).then(task).catch(onError);
    // The turn ends however `run` ends, so a failure never skips the next one.
    const end = (): void => {
      if (this.turns.get(clientId) === turn) this.turns.delete(clientId);
    };
    const turn: Promise<void> = run.then(end, end);
    this.turns.set(clientId, turn);
    return run;
  }

  /** Settles once the tasks for `clientId` under way now have. */
  settled(clientId: string): Promise<void> {
    return this.turns.get(clientId) ?? Promise.resolve();
  }
}
