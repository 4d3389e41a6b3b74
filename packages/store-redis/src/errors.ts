import { StoreUnavailableError } from '@roost/protocol';
import { ReplyError } from 'ioredis';

/**
 * Replies that mean "not now" rather than "wrong": the server is loading, busy with a script,
 * out of memory, a read-only replica, or the cluster is reconfiguring. A caller can retry
 * later or refuse the client (ServerUnavailable), exactly as when the connection is gone.
 */
const TRANSIENT_REPLIES = ['LOADING', 'BUSY', 'OOM', 'READONLY', 'CLUSTERDOWN', 'TRYAGAIN', 'MASTERDOWN', 'NOREPLICAS'];

function isTransient(error: unknown): boolean {
  if (!(error instanceof ReplyError)) return true; // connection closed, retries exhausted, timeout
  const message = (error as Error).message;
  return TRANSIENT_REPLIES.some((code) => message.startsWith(code));
}

/**
 * Runs the Redis calls of one store operation; encoding and decoding stay outside, since a
 * parse error is not an outage. Unavailability becomes StoreUnavailableError (the original as
 * `cause`); any other reply error is a bug or foreign data under our prefix and is rethrown.
 * Not an async function: a cluster CONNECT makes four of these calls, and with 500 CONNECTs
 * waiting on Redis an async frame per call outlives scavenges and grows the old generation.
 */
export function guard<T>(operation: string, work: () => Promise<T>): Promise<T> {
  let running: Promise<T>;
  try {
    running = work();
  } catch (error) {
    return Promise.reject(unavailable(operation, error));
  }
  return running.catch(rethrowFor(operation));
}

/** One handler per operation name (a handful of constants), not a closure per call. */
const rethrowers = new Map<string, (error: unknown) => never>();

function rethrowFor(operation: string): (error: unknown) => never {
  let rethrow = rethrowers.get(operation);
  if (!rethrow) {
    rethrow = (error: unknown) => {
      throw unavailable(operation, error);
    };
    rethrowers.set(operation, rethrow);
  }
  return rethrow;
}

function unavailable(operation: string, error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !isTransient(error)) return error;
  return new StoreUnavailableError(`redis ${operation}: ${(error as Error).message}`, { cause: error });
}

type ExecResult = [error: Error | null, result: unknown][] | null;

/** The replies of a MULTI, or the first error inside it. */
export function execReplies(results: ExecResult): unknown[] {
  if (results === null) throw new Error('transaction aborted'); // only WATCH aborts, and no store WATCHes
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}
