import { jest } from '@jest/globals';
import { readConfig } from '../../src/config.js';
import { LeaseHeldElsewhere } from '../../src/lease-keeper.js';
import { PeriodicTask } from '../../src/periodic-task.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { SqliteLease } from '../../src/store/sqlite-lease.js';

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

describe('periodic task under a lease', () => {
  const TTL = 15_000;
  let store: SqliteStore;
  beforeEach(() => {
    jest.useFakeTimers();
    store = new SqliteStore(':memory:');
  });
  afterEach(async () => {
    await store.close();
    jest.useRealTimers();
  });

  /** A replica's task on the shared lease `reconciler`; `cut()` makes its store calls fail from then on. */
  function replica(holder: string, errors: unknown[] = []) {
    let cut = false;
    const leases = {
      acquire: (...args: Parameters<SqliteLease['acquire']>) =>
        cut ? Promise.reject(new Error('store unreachable')) : store.lease.acquire(...args),
      release: (...args: Parameters<SqliteLease['release']>) => store.lease.release(...args),
    };
    const runs: number[] = [];
    const task = new PeriodicTask(
      async () => {
        runs.push(Date.now());
      },
      (error) => errors.push(error),
      { store: leases, holder, ttlMs: TTL, name: 'reconciler' },
    );
    return { task, runs, cut: () => (cut = true) };
  }

  it('lasts FLEETBOT_LEASE_SECONDS, 15 by default and at least 3', () => {
    expect(readConfig({}).leaseMs).toBe(15_000);
    expect(readConfig({ FLEETBOT_LEASE_SECONDS: '4' }).leaseMs).toBe(4_000);
    expect(() => readConfig({ FLEETBOT_LEASE_SECONDS: '2' })).toThrow(/FLEETBOT_LEASE_SECONDS/);
  });

  it('runs passes only on the replica holding the lease, at start and every interval', async () => {
    const a = replica('a');
    const b = replica('b');
    a.task.start(5_000);
    b.task.start(5_000);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(a.runs).toHaveLength(7);
    expect(b.runs).toEqual([]);
    expect(a.task.holdsLease()).toBe(true);
    expect(b.task.holdsLease()).toBe(false);
    await a.task.stop();
    await b.task.stop();
  });

  it('refuses a pass asked of a replica that cannot take the lease', async () => {
    const a = replica('a');
    const b = replica('b');
    a.task.start(60_000);
    await jest.advanceTimersByTimeAsync(0);
    await expect(b.task.pass()).rejects.toThrow(new LeaseHeldElsewhere('reconciler'));
    expect(b.runs).toEqual([]);
    await a.task.stop();
  });

  it('a task not started (a Lambda tick) holds the lease for its pass only, renewed while the pass runs', async () => {
    const tick = new PeriodicTask(() => new Promise<void>((resolve) => setTimeout(resolve, 2 * TTL)), fail, {
      store: store.lease,
      holder: 'tick',
      ttlMs: TTL,
      name: 'reconciler',
    });
    const replicaB = replica('b');
    const passing = tick.pass();
    // Past the lease's time: without renewals it would have lapsed, and b would run a pass beside the tick's.
    await jest.advanceTimersByTimeAsync(1.5 * TTL);
    await expect(replicaB.task.pass()).rejects.toThrow(new LeaseHeldElsewhere('reconciler'));
    await jest.advanceTimersByTimeAsync(TTL);
    await passing;
    // Given up when the pass ended, not left to lapse: b takes it at once.
    expect(await replicaB.task.pass()).toBeUndefined();
    expect(replicaB.runs).toHaveLength(1);
  });

  it('a holder whose renewals fail stops starting passes before its lease lapses; the other takes over within 2×TTL', async () => {
    const errors: unknown[] = [];
    const a = replica('a', errors);
    const b = replica('b');
    a.task.start(1_000);
    b.task.start(1_000);
    await jest.advanceTimersByTimeAsync(10_000);
    a.cut();
    const cutAt = Date.now();
    await jest.advanceTimersByTimeAsync(2 * TTL);
    expect(Math.max(...a.runs)).toBeLessThan(cutAt + TTL - TTL / 5);
    expect(b.runs.length).toBeGreaterThan(0);
    expect(b.runs[0] - cutAt).toBeLessThan(2 * TTL);
    expect(b.runs[0]).toBeGreaterThan(Math.max(...a.runs));
    expect(errors).toContainEqual(new Error('store unreachable'));
    await a.task.stop();
    await b.task.stop();
  });

  it('a stopping holder gives the lease up, and the other replica runs a pass within a third of the lease', async () => {
    const a = replica('a');
    const b = replica('b');
    a.task.start(60_000);
    b.task.start(60_000);
    await jest.advanceTimersByTimeAsync(1_000);
    await a.task.stop();
    const stoppedAt = Date.now();
    await jest.advanceTimersByTimeAsync(TTL / 3);
    expect(b.runs).toHaveLength(1);
    expect(b.runs[0] - stoppedAt).toBeLessThanOrEqual(TTL / 3);
    await b.task.stop();
  });

  it('starts no pass for a term taken while it stops, and gives that term up', async () => {
    let grant!: (token: number) => void;
    const released: number[] = [];
    const leases = {
      acquire: () => new Promise<number | undefined>((resolve) => (grant = resolve)),
      release: async (_name: string, _holder: string, token: number) => void released.push(token),
    };
    let runs = 0;
    const task = new PeriodicTask(async () => void runs++, fail, { store: leases, holder: 'b', ttlMs: TTL, name: 'reconciler' });
    task.start(1_000);
    const stopped = task.stop();
    grant(7);
    await stopped;
    await jest.advanceTimersByTimeAsync(5_000);
    expect(runs).toBe(0);
    expect(released).toEqual([7]);
  });
});

describe("periodic task passes, recorded in the replicas' store", () => {
  let store: SqliteStore;
  beforeEach(() => {
    store = new SqliteStore(':memory:');
  });
  afterEach(() => store.close());

  function task<T>(holder: string, work: () => Promise<T>, errors: unknown[] = [], passes: SqliteStore | undefined = store) {
    const clock = { at: 1_000 };
    const timed = async () => {
      clock.at += 250;
      return work();
    };
    const lease = { store: store.lease, holder, ttlMs: 15_000, name: 'reconciler', now: () => clock.at, passes };
    return new PeriodicTask(timed, (error) => errors.push(error), lease);
  }

  it('records each pass under the task and the replica that ran it, with what it came to', async () => {
    await task('replica-a', async () => ({ launched: 2, errors: 0 })).pass();
    expect(await store.taskPasses()).toEqual([
      { task: 'reconciler', holder: 'replica-a', startedAt: 1_000, finishedAt: 1_250, ok: true, summary: '{"launched":2,"errors":0}' },
    ]);
  });

  it('records a failed pass with why, and still fails it', async () => {
    await expect(task('replica-a', () => Promise.reject(new Error('DescribeTasks throttled'))).pass()).rejects.toThrow('throttled');
    expect(await store.taskPasses()).toEqual([expect.objectContaining({ ok: false, summary: 'DescribeTasks throttled' })]);
  });

  it('records nothing for a pass refused because another replica holds the lease', async () => {
    await store.lease.acquire('reconciler', 'replica-b', 60_000, 1_000);
    await expect(task('replica-a', async () => 'ran').pass()).rejects.toThrow(LeaseHeldElsewhere);
    expect(await store.taskPasses()).toEqual([]);
  });

  it('keeps a long summary short', async () => {
    await task('replica-a', async () => 'x'.repeat(2_000)).pass();
    const [pass] = await store.taskPasses();
    expect(pass!.summary).toHaveLength(500);
    expect(pass!.summary.endsWith('…')).toBe(true);
  });

  it('reports a pass it could not record, and the pass itself succeeds', async () => {
    const errors: unknown[] = [];
    const broken = Object.assign(Object.create(store) as SqliteStore, {
      recordTaskPass: () => Promise.reject(new Error('database is locked')),
    });
    expect(await task('replica-a', async () => 'ran', errors, broken).pass()).toBe('ran');
    expect(errors.map((error) => (error as Error).message)).toEqual(['could not record the pass of "reconciler": database is locked']);
  });
});

describe('a periodic pass whose result JSON cannot write', () => {
  it('is recorded all the same, as text', async () => {
    const store = new SqliteStore(':memory:');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const lease = { store: store.lease, holder: 'a', ttlMs: 15_000, name: 'retention', passes: store };
    expect(await new PeriodicTask(async () => circular, fail, lease).pass()).toBe(circular);
    expect(await store.taskPasses()).toEqual([expect.objectContaining({ task: 'retention', ok: true, summary: '[object Object]' })]);
    await store.close();
  });
});
