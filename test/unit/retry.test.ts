import { errorFields } from '../../src/errors.js';
import { withRetry } from '../../src/retry.js';

describe('retrying', () => {
  const policy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 250 };

  it('tries again until the operation succeeds, with capped backoff', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls < 4) throw new Error('flaky');
        return 'ok';
      },
      policy,
      () => ({ retry: true }),
      async (ms) => void waits.push(ms),
    );
    expect(result).toBe('ok');
    expect(calls).toBe(4);
    expect(waits).toHaveLength(3);
    waits.forEach((ms, index) => expect(ms).toBeLessThanOrEqual(Math.min(250, 100 * 2 ** index)));
  });

  it('waits as long as the error asks', async () => {
    const waits: number[] = [];
    let calls = 0;
    await withRetry(
      async () => {
        if (++calls === 1) throw new Error('slow down');
      },
      policy,
      () => ({ retry: true, afterMs: 1234 }),
      async (ms) => void waits.push(ms),
    );
    expect(waits).toEqual([1234]);
  });

  it('gives up after the last attempt, and at once on errors not worth retrying', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => Promise.reject(new Error(`fail ${++calls}`)),
        policy,
        () => ({ retry: true }),
        async () => undefined,
      ),
    ).rejects.toThrow('fail 4');
    calls = 0;
    await expect(
      withRetry(
        async () => Promise.reject(new Error(`fail ${++calls}`)),
        policy,
        () => ({ retry: false }),
        async () => undefined,
      ),
    ).rejects.toThrow('fail 1');
  });

  it('logs only the name, message and status of an error', () => {
    const error = Object.assign(new Error('Bad credentials'), { status: 401, request: { headers: { authorization: 'token ghs_secret' } } });
    expect(errorFields(error)).toEqual({ name: 'Error', message: 'Bad credentials', status: 401 });
    expect(JSON.stringify(errorFields(error))).not.toContain('ghs_secret');
  });
});
