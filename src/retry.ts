/** Retrying remote calls: one policy shape, and each caller says which of its errors are worth another try. */

export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export type RetryVerdict = { retry: false } | { retry: true; afterMs?: number };

export type Sleep = (ms: number) => Promise<void>;

export const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with full jitter, unless the server said when to come back. */
export async function withRetry<T>(
  operation: () => Promise<T>,
  policy: RetryPolicy,
  classify: (error: unknown) => RetryVerdict,
  wait: Sleep = sleep,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const verdict = classify(error);
      if (!verdict.retry || attempt >= policy.attempts) throw error;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      await wait(verdict.afterMs ?? Math.random() * backoff);
    }
  }
}
