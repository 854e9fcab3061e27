/** Bounded retries with backoff, and a queue that runs tasks one at a time. */

export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly retries: number;
  /** The first delay in ms; doubled each time, with jitter, up to `maxDelayMs`. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** The delay before retry `n` (0-based): half fixed, half random ("equal jitter"). */
export function backoffDelay(policy: RetryPolicy, n: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** n);
  return cap / 2 + Math.random() * (cap / 2);
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/**
 * Runs `attempt` until it succeeds, `shouldRetry` says no, or the retries are spent; the last
 * error is thrown.
 */
export async function withRetries<T>(policy: RetryPolicy, shouldRetry: (e: unknown) => boolean, attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (e) {
      if (n >= policy.retries || !shouldRetry(e)) throw e;
      await sleep(backoffDelay(policy, n));
    }
  }
}

/** Runs queued tasks one after another, whatever each one's outcome. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task, task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
