import { jest } from '@jest/globals';
import { PeriodicTask } from '../../src/periodic-task.js';

/** For passes that must not fail. */
const fail = (error: unknown) => {
  throw error;
};

describe('periodic task', () => {
  afterEach(() => jest.useRealTimers());

  it('joins a pass under way instead of starting a second one', async () => {
    let release!: () => void;
    let runs = 0;
    const task = new PeriodicTask(async () => {
      runs++;
      await new Promise<void>((resolve) => (release = resolve));
      return runs;
    }, fail);
    const first = task.pass();
    const second = task.pass();
    release();
    expect(await first).toBe(1);
    expect(await second).toBe(1);
    expect(runs).toBe(1);
    const third = task.pass();
    release();
    expect(await third).toBe(2);
  });

  it('runs at start and then every interval, and not after stop', async () => {
    jest.useFakeTimers();
    let runs = 0;
    const task = new PeriodicTask(async () => ++runs, fail);
    task.start(15_000);
    await jest.advanceTimersByTimeAsync(0);
    expect(runs).toBe(1);
    await jest.advanceTimersByTimeAsync(45_000);
    expect(runs).toBe(4);
    await task.stop();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(runs).toBe(4);
  });

  it('skips ticks while a slow pass runs, and stop waits for it', async () => {
    jest.useFakeTimers();
    let runs = 0;
    let finished = 0;
    const task = new PeriodicTask(async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 40_000));
      finished++;
    }, fail);
    task.start(15_000);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(runs).toBe(1);
    const stopped = task.stop();
    await jest.advanceTimersByTimeAsync(10_000);
    await stopped;
    expect(finished).toBe(1);
    expect(runs).toBe(1);
  });

  it('is idle when no pass is under way, and once the one under way ends, failed or not, without stopping the ticks', async () => {
    jest.useFakeTimers();
    let runs = 0;
    const task = new PeriodicTask(
      async () => {
        runs++;
        await new Promise((resolve) => setTimeout(resolve, 5_000));
        if (runs === 1) throw new Error('GitLab unreachable');
      },
      () => undefined,
    );
    await task.idle();
    task.start(10_000);
    let idle = false;
    const waited = task.idle().then(() => (idle = true));
    await jest.advanceTimersByTimeAsync(4_000);
    expect(idle).toBe(false);
    await jest.advanceTimersByTimeAsync(1_000);
    await waited;
    expect(idle).toBe(true);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(2);
    const stopped = task.stop();
    await jest.advanceTimersByTimeAsync(5_000);
    await stopped;
  });

  it('reports a failed pass and keeps ticking', async () => {
    jest.useFakeTimers();
    let runs = 0;
    const failures: unknown[] = [];
    const task = new PeriodicTask(
      async () => {
        runs++;
        throw new Error('CircleCI unreachable');
      },
      (error) => failures.push(error),
    );
    task.start(1_000);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(runs).toBe(3);
    expect(failures).toEqual(Array(3).fill(new Error('CircleCI unreachable')));
    await task.stop();
  });
});
