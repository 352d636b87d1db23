import { pino } from 'pino';
import { RequestQueue } from '../../../src/issueops/queue.js';
import type { IssueOpsContext } from '../../../src/issueops/types.js';
import { SqliteStore } from '../../../src/store/sqlite.js';

const REQUEST = { repo: 'acme/runner-fleets', issueNumber: 7, installationId: 1, prNumber: 8 };
const TTL = 15_000;

/** One replica's IssueOps queue on the shared store; its clock and sleep are the test's. */
function replica(store: SqliteStore, holder: string, clock: { now: number; sleep?: (ms: number) => Promise<void> }, ttlMs = TTL) {
  const comments: string[] = [];
  const ctx = {
    store: store.issueOps,
    log: pino({ level: 'silent' }),
    now: () => clock.now,
    sleep: clock.sleep ?? (() => new Promise<void>((resolve) => setImmediate(resolve))),
    requestLock: { holder, ttlMs },
    secrets: [],
    github: async () => ({ comment: async (_: number, body: string) => void comments.push(body) }),
  } as unknown as IssueOpsContext;
  return { queue: new RequestQueue(ctx), comments };
}

describe('IssueOps request queue across replicas', () => {
  let store: SqliteStore;
  beforeEach(() => {
    store = new SqliteStore(':memory:');
  });
  afterEach(() => store.close());

  it("works a request on one replica at a time: the other replica's work waits for the lock, then runs", async () => {
    const clock = { now: 0 };
    const a = replica(store, 'a', clock);
    const b = replica(store, 'b', clock);
    const steps: string[] = [];
    let finishA!: () => void;
    a.queue.enqueue(REQUEST, async () => {
      steps.push('a starts');
      await new Promise<void>((resolve) => (finishA = resolve));
      steps.push('a ends');
    });
    await new Promise((resolve) => setImmediate(resolve));
    b.queue.enqueue(REQUEST, async () => {
      steps.push('b runs');
    });
    // Another request is not held up.
    b.queue.enqueue({ ...REQUEST, issueNumber: 9 }, async () => {
      steps.push('b runs another request');
    });
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(steps).toEqual(['a starts', 'b runs another request']);
    finishA();
    await a.queue.idle();
    await b.queue.idle();
    expect(steps).toEqual(['a starts', 'b runs another request', 'a ends', 'b runs']);
    // Both gave the lock back.
    expect(await store.issueOps.lockRequest(REQUEST.repo, REQUEST.issueNumber, 'c', TTL, clock.now)).toBe(true);
  });

  it('works a request whose lock a dead replica left once that lock lapses', async () => {
    await store.issueOps.lockRequest(REQUEST.repo, REQUEST.issueNumber, 'dead', TTL, 0);
    const clock = {
      now: 0,
      sleep: async (ms: number) => {
        clock.now += ms;
      },
    };
    const b = replica(store, 'b', clock);
    let ranAt: number | undefined;
    b.queue.enqueue(REQUEST, async () => {
      ranAt = clock.now;
    });
    await b.queue.idle();
    expect(ranAt).toBeGreaterThanOrEqual(TTL);
    expect(ranAt).toBeLessThan(TTL + 1_000);
  });

  it('gives the lock back when the work fails, and explains the failure', async () => {
    const clock = { now: 0 };
    const a = replica(store, 'a', clock);
    a.queue.enqueue(REQUEST, async () => {
      throw new Error('GitHub is down');
    });
    await a.queue.idle();
    expect(a.comments.join('\n')).toContain('GitHub is down');
    expect(await store.issueOps.lockRequest(REQUEST.repo, REQUEST.issueNumber, 'b', TTL, 0)).toBe(true);
  });

  it('renews the lock while long work runs, so no other replica takes the request meanwhile', async () => {
    const ttlMs = 300;
    const clock = {
      get now() {
        return Date.now();
      },
    };
    const a = replica(store, 'a', clock, ttlMs);
    a.queue.enqueue(REQUEST, () => new Promise((resolve) => setTimeout(resolve, 3 * ttlMs)));
    await new Promise((resolve) => setTimeout(resolve, 2 * ttlMs));
    expect(await store.issueOps.lockRequest(REQUEST.repo, REQUEST.issueNumber, 'b', ttlMs, Date.now())).toBe(false);
    await a.queue.idle();
    expect(await store.issueOps.lockRequest(REQUEST.repo, REQUEST.issueNumber, 'b', ttlMs, Date.now())).toBe(true);
  });
});
