import type { JobStatus, Store } from '../../src/store/types.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeEachStore, job, type StoreUnderTest } from './store-backends.js';

const fleet = { name: 'linux', maxRunners: 1 };

/** What the operator's view needs of every Store: job timelines, runner costs, drains, task passes and listings. */
describeEachStore('the store contract for the operator', (backend) => {
  let opened: StoreUnderTest;
  let store: Store;

  beforeEach(async () => {
    opened = await backend.open();
    store = opened.store;
  });
  afterEach(() => opened.close());

  describe("a job's timeline", () => {
    it('keeps the queued time the CI system gave, and marks receipt and claim at admission', async () => {
      const admission = await store.admitJob({ ...job(1), queuedAt: 5 }, fleet, 'r1', 10);
      expect(admission.job).toMatchObject({ queuedAt: 5, receivedAt: 10, claimedAt: 10, launchRequestedAt: null, launchedAt: null });
      expect(await store.getJob('github', '1')).toMatchObject({ queuedAt: 5, claimedAt: 10, completedAt: null });
      const waiting = await store.admitJob(job(2), fleet, 'r2', 11);
      expect(waiting.job).toMatchObject({ queuedAt: null, receivedAt: 11, claimedAt: null });
    });

    it('marks the launch request and the launch with the runner, and the price the launch saw', async () => {
      await store.admitJob(job(1), fleet, 'r1', 10);
      await store.markRunnerLaunched('r1', 'arn:1', 'FARGATE_SPOT', 14, undefined, {
        hourlyPriceDollars: 0.04,
        spot: true,
        requestedAt: 12,
      });
      expect(await store.getJob('github', '1')).toMatchObject({ status: 'launched', launchRequestedAt: 12, launchedAt: 14 });
      expect(await store.getRunner('r1')).toMatchObject({ launchedAt: 14, releasedAt: null, hourlyPriceDollars: 0.04, spot: true });
      // Once launched, a second report changes nothing.
      await store.markRunnerLaunched('r1', 'arn:1', 'FARGATE', 20, undefined, { hourlyPriceDollars: 9, spot: false, requestedAt: 19 });
      expect(await store.getRunner('r1')).toMatchObject({ launchedAt: 14, hourlyPriceDollars: 0.04, spot: true });
    });

    it('keeps no price or spot when the launch did not say, and no launch request time when none was given', async () => {
      await store.admitJob(job(1), fleet, 'r1', 10);
      await store.markRunnerLaunched('r1', 'arn:1', 'adopted', 14);
      expect(await store.getRunner('r1')).toMatchObject({ launchedAt: 14, hourlyPriceDollars: null, spot: null });
      expect(await store.getJob('github', '1')).toMatchObject({ launchRequestedAt: null, launchedAt: 14 });
    });

    it('marks completion once, and the release of its runner', async () => {
      await store.admitJob(job(1), fleet, 'r1', 10);
      await store.markRunnerLaunched('r1', 'arn:1', 'FARGATE', 12);
      await store.completeJob('github', '1', 'r1', 30);
      await store.completeJob('github', '1', 'r1', 40);
      expect(await store.getJob('github', '1')).toMatchObject({ status: 'completed', completedAt: 30 });
      expect(await store.getRunner('r1')).toMatchObject({ status: 'released', releasedAt: 30 });
    });

    it('marks the release of a runner whichever way it is released', async () => {
      const wide = { name: 'linux', maxRunners: 3 };
      const claimed = [];
      for (let id = 1; id <= 3; id++) claimed.push(await store.admitJob(job(id), wide, `r${id}`, id));
      await store.releaseRunner('r1', 'launch failed', { requeueJob: true }, 20);
      const second = claimed[1]!;
      const third = claimed[2]!;
      if (second.kind !== 'claimed' || third.kind !== 'claimed') throw new Error('expected claims');
      await store.abandonClaim(second, 'gone', 21);
      await store.deferUncheckedJob(third, 'unknown', 60_000, 22);
      expect((await store.getRunner('r1'))?.releasedAt).toBe(20);
      expect((await store.getRunner('r2'))?.releasedAt).toBe(21);
      expect((await store.getRunner('r3'))?.releasedAt).toBe(22);
    });

    it('starts the launch steps afresh when a job put back is claimed again', async () => {
      await store.admitJob(job(1), fleet, 'r1', 10);
      await store.markRunnerLaunched('r1', 'arn:1', 'FARGATE', 12, undefined, { requestedAt: 11 });
      await store.releaseRunner('r1', 'credential failed', { requeueJob: true }, 13);
      const again = await store.claimNextWaiting(fleet, () => 'r1b', 20);
      expect(again?.job).toMatchObject({ claimedAt: 20, launchRequestedAt: null, launchedAt: null });
    });

    it("gives a job that takes an idle warm runner its claim now, and the runner's launch", async () => {
      const wide = { name: 'linux', maxRunners: 3 };
      await store.claimWarmRunner(wide, { ...job('warm:w1'), jobId: 'warm:w1' }, 'w1', 2);
      await store.markRunnerLaunched('w1', 'task-1', 'FARGATE', 4, undefined, { requestedAt: 3 });
      const pooled = await store.admitJob(job(1), wide, 'r1', 9, { useWarmRunner: true });
      expect(pooled.kind).toBe('pooled');
      expect(await store.getJob('github', '1')).toMatchObject({ status: 'launched', claimedAt: 9, launchedAt: 4 });
    });
  });

  describe('drained fleets', () => {
    it('are drained and undrained, saying whether that changed anything, and seen by every replica', async () => {
      expect(await store.drainedFleets()).toEqual(new Set());
      expect(await store.setFleetDrained('linux', true, 1)).toBe(true);
      expect(await store.setFleetDrained('linux', true, 2)).toBe(false);
      expect(await store.setFleetDrained('gpu', true, 3)).toBe(true);
      const replica = opened.another();
      expect(await replica.drainedFleets()).toEqual(new Set(['linux', 'gpu']));
      expect(await replica.setFleetDrained('linux', false, 4)).toBe(true);
      expect(await store.setFleetDrained('linux', false, 5)).toBe(false);
      expect(await store.drainedFleets()).toEqual(new Set(['gpu']));
    });
  });

  describe('task passes', () => {
    it("keep each task's latest pass, whichever replica ran it; a pass that started earlier never replaces a later one", async () => {
      const pass = { task: 'reconciler', holder: 'a', startedAt: 10, finishedAt: 12, ok: true, summary: '{"launched":0}' };
      await store.recordTaskPass(pass);
      await store.recordTaskPass({ task: 'retention', holder: 'a', startedAt: 11, finishedAt: 11, ok: false, summary: 'disk full' });
      await opened.another().recordTaskPass({ ...pass, holder: 'b', startedAt: 20, finishedAt: 25, summary: 'later' });
      await store.recordTaskPass({ ...pass, holder: 'c', startedAt: 15, finishedAt: 30, summary: 'late report' });

      const passes = (await store.taskPasses()).sort((a, b) => (a.task < b.task ? -1 : 1));
      expect(passes).toEqual([
        { task: 'reconciler', holder: 'b', startedAt: 20, finishedAt: 25, ok: true, summary: 'later' },
        { task: 'retention', holder: 'a', startedAt: 11, finishedAt: 11, ok: false, summary: 'disk full' },
      ]);
    });
  });

  describe('listings', () => {
    /** Linux (2 runners): 1 completed, 2 launching, 3 waiting; gpu: 4 launching; 5 unmatched. */
    async function fill(): Promise<void> {
      const wide = { name: 'linux', maxRunners: 2 };
      await store.admitJob(job(1), wide, 'r1', 1);
      await store.admitJob({ ...job(2), ci: 'gitlab' }, wide, 'r2', 2);
      await store.admitJob(job(3), wide, 'r3', 3);
      await store.admitJob(job(4), { name: 'gpu', maxRunners: 1 }, 'g4', 4);
      await store.admitJob(job(5), undefined, 'none', 5);
      await store.completeJob('github', '1', 'r1', 6);
    }

    it('list jobs newest first by receipt, filtered by fleet, CI system, status and receipt, at most `limit`', async () => {
      await fill();
      const ids = async (filter: Parameters<Store['listJobs']>[0]) => (await store.listJobs(filter)).map((listed) => listed.jobId);
      expect(await ids({ limit: 10 })).toEqual(['5', '4', '3', '2', '1']);
      expect(await ids({ limit: 2 })).toEqual(['5', '4']);
      expect(await ids({ fleet: 'linux', limit: 10 })).toEqual(['3', '2', '1']);
      expect(await ids({ ci: 'gitlab', limit: 10 })).toEqual(['2']);
      expect(await ids({ status: 'waiting', limit: 10 })).toEqual(['3']);
      expect(await ids({ status: 'completed', fleet: 'linux', limit: 10 })).toEqual(['1']);
      expect(await ids({ since: 3, limit: 10 })).toEqual(['5', '4', '3']);
      expect(await ids({ fleet: 'nothing', limit: 10 })).toEqual([]);
      expect(await ids({ limit: 0 })).toEqual([]);
      expect((await store.listJobs({ fleet: 'linux', status: 'completed', limit: 1 }))[0]).toMatchObject({
        completedAt: 6,
        runnerName: 'r1',
      });
    });

    it('list runners newest first, active or released, by fleet, at most `limit`', async () => {
      await fill();
      const names = async (filter: Parameters<Store['listRunners']>[0]) => (await store.listRunners(filter)).map((listed) => listed.name);
      expect(await names({ limit: 10 })).toEqual(['g4', 'r2', 'r1']);
      expect(await names({ active: true, limit: 10 })).toEqual(['g4', 'r2']);
      expect(await names({ active: false, limit: 10 })).toEqual(['r1']);
      expect(await names({ fleet: 'linux', limit: 1 })).toEqual(['r2']);
      expect(await names({ fleet: 'linux', limit: 5 })).toEqual(['r2', 'r1']);
      expect(await names({ fleet: 'gpu', active: false, limit: 10 })).toEqual([]);
      expect((await store.listRunners({ active: false, limit: 1 }))[0]).toMatchObject({ status: 'released', releasedAt: 6 });
    });

    it('count the jobs still in play by fleet and status', async () => {
      await fill();
      await store.markRunnerLaunched('r2', 'arn:2', 'FARGATE', 7);
      const counts = await store.countJobsByStatus();
      const plain = Object.fromEntries([...counts].map(([name, byStatus]) => [name, Object.fromEntries(byStatus)]));
      expect(plain).toEqual({ linux: { launched: 1, waiting: 1 }, gpu: { launching: 1 } });
      await store.admitJob(job(6), { name: 'gpu', maxRunners: 1 }, 'g6', 8);
      expect((await store.countJobsByStatus()).get('gpu')).toEqual(
        new Map<JobStatus, number>([
          ['launching', 1],
          ['waiting', 1],
        ]),
      );
    });
  });

  it('lists the runners of a fleet no longer configured', async () => {
    const gone = ecsFleet({ name: 'old' });
    await store.admitJob(job(1), { name: 'old', maxRunners: 1 }, 'o1', 1);
    await store.markRunnerLaunched('o1', 'arn:1', 'FARGATE', 2, gone);
    expect((await store.listRunners({ fleet: 'old', limit: 5 })).map((listed) => listed.name)).toEqual(['o1']);
  });
});
