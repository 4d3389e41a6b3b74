/**
 * What happens to one client id's session (CONNECTs, adoption of a dead node's sessions, an
 * operator's discard) happens one task after another, so exactly one of two racing CONNECTs
 * wins and no adoption interleaves with a CONNECT.
 */
export class ClientTurns {
  private readonly turns = new Map<string, Promise<void>>();

  /** Runs `task` after every earlier one for `clientId` has settled; its failure goes to `onError`. */
  run(clientId: string, task: () => Promise<void>, onError: (error: unknown) => void): Promise<void> {
    const previous = this.turns.get(clientId) ?? Promise.resolve();
    const run = previous.then(task).catch(onError);
    // The turn ends however `run` ends, so a failure never skips the next one.
    const turn: Promise<void> = run.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (this.turns.get(clientId) === turn) this.turns.delete(clientId);
    });
    this.turns.set(clientId, turn);
    return run;
  }

  /** Settles once the tasks for `clientId` under way now have. */
  settled(clientId: string): Promise<void> {
    return this.turns.get(clientId) ?? Promise.resolve();
  }
}
