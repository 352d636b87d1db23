/**
 * Runs `work` and tells `observe` how long it took in milliseconds, failed runs included. Wall time, not
 * the app's clock (which tests move): how long the work really took.
 */
export async function timed<T>(work: () => Promise<T>, observe?: (durationMs: number) => void): Promise<T> {
  const startedAt = performance.now();
  try {
    return await work();
  } finally {
    observe?.(performance.now() - startedAt);
  }
}
