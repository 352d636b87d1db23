import { CoalescedRuns } from '../../src/coalesced-runs.js';

/** A run that waits until released, counting how many are under way at once. */
function gatedWork() {
  const gates: Array<() => void> = [];
  let running = 0;
  let mostAtOnce = 0;
  let runs = 0;
  const work = async () => {
    runs++;
    mostAtOnce = Math.max(mostAtOnce, ++running);
    await new Promise<void>((resolve) => gates.push(resolve));
    running--;
    return 1;
  };
  const release = async () => {
    while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
    gates.shift()!();
  };
  return { work, release, stats: () => ({ runs, mostAtOnce }) };
}

describe('CoalescedRuns', () => {
  it('folds every request made during a run into one more run after it, never two runs at once', async () => {
    const runs = new CoalescedRuns();
    const gated = gatedWork();
    const first = runs.run('linux', gated.work);
    const joined = [runs.run('linux', gated.work), runs.run('linux', gated.work), runs.run('linux', gated.work)];
    await gated.release();
    await gated.release();

    expect(await first).toBe(2);
    expect(await Promise.all(joined)).toEqual([0, 0, 0]);
    expect(gated.stats()).toEqual({ runs: 2, mostAtOnce: 1 });
  });

  it('runs different keys side by side', async () => {
    const runs = new CoalescedRuns();
    const gated = gatedWork();
    const both = Promise.all([runs.run('linux', gated.work), runs.run('gpu', gated.work)]);
    await gated.release();
    await gated.release();

    expect(await both).toEqual([1, 1]);
    expect(gated.stats().mostAtOnce).toBe(2);
  });

  it('lets a failed run fail its waiters, and starts afresh on the next request', async () => {
    const runs = new CoalescedRuns();
    const failing = runs.run('linux', async () => Promise.reject(new Error('AWS throttled')));
    const joined = runs.run('linux', async () => 5);
    await expect(failing).rejects.toThrow('AWS throttled');
    await expect(joined).rejects.toThrow('AWS throttled');

    expect(await runs.run('linux', async () => 3)).toBe(3);
  });
});
