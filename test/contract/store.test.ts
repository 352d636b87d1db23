import type { NewJob, Store } from '../../src/store/types.js';
import { describeEachStore, job, type StoreUnderTest } from './store-backends.js';

const fleet = { name: 'linux', maxRunners: 2 };

/**
 * The store contract: what every Store does, run against each implementation (SQLite, the reference, and
 * DynamoDB). A store-specific test belongs to that store's own suite; a behaviour belongs here.
 */
describeEachStore('the store contract', (backend) => {
  let opened: StoreUnderTest;
  let store: Store;

  beforeEach(async () => {
    opened = await backend.open();
    store = opened.store;
  });
  afterEach(() => opened.close());

  it('records a job once; a redelivery is a duplicate', async () => {
    expect((await store.admitJob(job(1), fleet, 'r1', 1)).kind).toBe('claimed');
    const again = await store.admitJob(job(1), fleet, 'r1b', 2);
    expect(again.kind).toBe('duplicate');
    expect(await store.getRunner('r1b')).toBeUndefined();
  });

  it('claims up to the fleet maximum and puts the rest in a FIFO backlog', async () => {
    const kinds = [];
    for (let id = 1; id <= 5; id++) kinds.push((await store.admitJob(job(id), fleet, `r${id}`, id)).kind);
    expect(kinds).toEqual(['claimed', 'claimed', 'waiting', 'waiting', 'waiting']);
    expect(await store.admitJob(job(6), fleet, 'r6', 6)).toMatchObject({ kind: 'waiting', position: 4, fleetFull: true });
    expect(await store.claimNextWaiting(fleet, () => 'x', 10)).toBeUndefined();

    await store.releaseRunner('r1', 'done', { requeueJob: false }, 11);
    const next = await store.claimNextWaiting(fleet, (waiting) => `r${waiting.jobId}`, 12);
    expect(next?.job.jobId).toBe('3');
    expect(next?.runner).toMatchObject({ name: 'r3', status: 'launching', fleet: 'linux', jobId: '3' });
    expect((await store.fleetCounts()).get('linux')).toEqual({ active: 2, waiting: 3 });
  });

  it('tells a newcomer that waits behind older jobs whether a slot is free (the backlog wants draining)', async () => {
    await store.admitJob(job(1), { name: 'linux', maxRunners: 1 }, 'r1', 1);
    await store.admitJob(job(2), { name: 'linux', maxRunners: 1 }, 'r2', 2);
    await store.releaseRunner('r1', 'done', { requeueJob: false }, 3);
    expect(await store.admitJob(job(3), { name: 'linux', maxRunners: 1 }, 'r3', 4)).toMatchObject({
      kind: 'waiting',
      position: 2,
      fleetFull: false,
    });
  });

  it('puts a job back at its original place in the backlog after a failed launch', async () => {
    await store.admitJob(job(1), fleet, 'r1', 1);
    await store.admitJob(job(2), fleet, 'r2', 2);
    await store.admitJob(job(3), fleet, 'r3', 3);
    await store.releaseRunner('r1', 'launch failed', { requeueJob: true }, 4);
    expect((await store.getJob('github', '1'))?.status).toBe('waiting');
    const next = await store.claimNextWaiting(fleet, () => 'r1-again', 5);
    expect(next?.job).toMatchObject({ jobId: '1', launchAttempts: 2 });
  });

  it('completes a job: frees the runner named by the completion, not the one launched for the job', async () => {
    await store.admitJob(job(1), fleet, 'r1', 1);
    await store.admitJob(job(2), fleet, 'r2', 2);
    await store.markRunnerLaunched('r1', 'arn:1', 'FARGATE', 3);
    await store.markRunnerLaunched('r2', 'arn:2', 'FARGATE', 3);
    const completion = await store.completeJob('github', '1', 'r2', 4);
    expect(completion.releasedRunner).toMatchObject({ name: 'r2', computeId: 'arn:2', status: 'running' });
    expect((await store.getRunner('r1'))?.status).toBe('running');
    expect((await store.getJob('github', '1'))?.status).toBe('completed');
    // A second completion of the same job changes nothing.
    expect((await store.completeJob('github', '1', 'r2', 5)).releasedRunner).toBeUndefined();
  });

  it('drops a completed job from the backlog', async () => {
    await store.admitJob(job(1), { name: 'linux', maxRunners: 1 }, 'r1', 1);
    await store.admitJob(job(2), { name: 'linux', maxRunners: 1 }, 'r2', 2);
    await store.completeJob('github', '2', undefined, 3);
    await store.releaseRunner('r1', 'done', { requeueJob: false }, 4);
    expect(await store.claimNextWaiting({ name: 'linux', maxRunners: 1 }, () => 'x', 5)).toBeUndefined();
  });

  it('does not requeue a job that has completed', async () => {
    await store.admitJob(job(1), fleet, 'r1', 1);
    await store.completeJob('github', '1', undefined, 2);
    await store.releaseRunner('r1', 'task stopped', { requeueJob: true }, 3);
    expect((await store.getJob('github', '1'))?.status).toBe('completed');
  });

  it('records jobs no fleet serves as unmatched, once', async () => {
    expect((await store.admitJob(job(9), undefined, 'x', 1)).kind).toBe('unmatched');
    expect((await store.admitJob(job(9), undefined, 'x', 2)).kind).toBe('duplicate');
    expect((await store.getJob('github', '9'))?.fleet).toBeNull();
  });

  it("records a job's start once and answers with the job as it was; an unknown job is undefined", async () => {
    await store.admitJob(job(1), fleet, 'r1', 1);
    expect(await store.markJobStarted('github', '1', 40, 45)).toMatchObject({ jobId: '1', startedAt: null, receivedAt: 1 });
    expect(await store.markJobStarted('github', '1', 90, 95)).toMatchObject({ startedAt: 40 });
    expect((await store.getJob('github', '1'))?.startedAt).toBe(40);
    expect(await store.markJobStarted('github', 'nope', 40, 45)).toBeUndefined();
  });

  describe('a runner another job took (runner stealing)', () => {
    const one = { name: 'linux', maxRunners: 1 };

    async function stealing(): Promise<void> {
      await store.admitJob(job(1), one, 'r1', 1);
      await store.markRunnerLaunched('r1', 'arn:1', 'FARGATE', 2);
      expect((await store.admitJob(job(2), one, 'r2', 3)).kind).toBe('waiting');
      expect((await store.admitJob(job(3), one, 'r3', 4)).kind).toBe('waiting');
      await store.markJobStarted('github', '2', 5, 5);
    }

    it("puts the runner's own job back at the head of the backlog, in its original place, when another job completes on it", async () => {
      await stealing();
      const completion = await store.completeJob('github', '2', 'r1', 6);
      expect(completion.releasedRunner).toMatchObject({ name: 'r1', jobId: '1' });
      expect(completion.requeuedJob).toMatchObject({ jobId: '1', status: 'waiting' });
      expect((await store.fleetCounts()).get('linux')).toEqual({ active: 0, waiting: 2 });
      const next = await store.claimNextWaiting(one, (waiting) => `r${waiting.jobId}-again`, 7);
      expect(next?.job).toMatchObject({ jobId: '1', runnerName: 'r1-again' });
      // Never above the cap, never two runners for one job.
      expect(await store.claimNextWaiting(one, () => 'x', 8)).toBeUndefined();
      expect((await store.activeRunners()).map((runner) => runner.name)).toEqual(['r1-again']);
    });

    it('leaves the own job alone when it started on another runner meanwhile', async () => {
      await stealing();
      await store.markJobStarted('github', '1', 5, 5);
      expect((await store.completeJob('github', '2', 'r1', 6)).requeuedJob).toBeUndefined();
      expect((await store.getJob('github', '1'))?.status).toBe('launched');
    });

    it('requeues, once, a job launched for whose runner was released before it started (the reconciler rule)', async () => {
      await store.admitJob(job(1), one, 'r1', 1);
      await store.markRunnerLaunched('r1', 'arn:1', 'FARGATE', 2);
      await store.admitJob(job(2), one, 'r2', 3);
      await store.releaseRunner('r1', 'idle past its timeout', { requeueJob: false }, 4);
      expect((await store.requeueStrandedJobs(5)).map((stranded) => stranded.jobId)).toEqual(['1']);
      expect(await store.requeueStrandedJobs(6)).toEqual([]);
      expect((await store.claimNextWaiting(one, () => 'r1-again', 7))?.job.jobId).toBe('1');
      expect(await store.requeueStrandedJobs(8)).toEqual([]);
    });

    it('never frees a runner of another CI system, nor one the caller refuses', async () => {
      await store.admitJob(job(1), one, 'r1', 1);
      await store.markRunnerLaunched('r1', 'arn:1', 'FARGATE', 2);
      const gitlab = await store.completeJob('gitlab', '77', 'r1', 3);
      expect(gitlab).toMatchObject({ refusedRunner: { name: 'r1' } });
      expect(gitlab.releasedRunner).toBeUndefined();
      const refused = await store.completeJob('github', '78', 'r1', 4, (runnerJob) => runnerJob?.jobId !== '1');
      expect(refused.releasedRunner).toBeUndefined();
      expect((await store.getRunner('r1'))?.status).toBe('running');
    });
  });

  describe('a fleets file that changed under a backlog', () => {
    it('moves the waiting jobs of a removed fleet to the fleet that serves them, in arrival order, or marks them unmatched', async () => {
      const old = { name: 'old', maxRunners: 1 };
      await store.admitJob(job(1), old, 'r1', 1);
      await store.admitJob({ ...job(2), labels: ['gpu'] }, old, 'r2', 2);
      await store.admitJob(job(3), old, 'r3', 3);
      await store.admitJob(job(4), fleet, 'r4', 4);

      const rematched = await store.rematchWaitingJobs(['linux'], (waiting) => (waiting.labels.includes('gpu') ? undefined : 'linux'), 5);

      expect(rematched.map(({ job: moved, fleet: to }) => [moved.jobId, moved.fleet, to])).toEqual([
        ['2', 'old', undefined],
        ['3', 'old', 'linux'],
      ]);
      expect(await store.getJob('github', '2')).toMatchObject({ status: 'unmatched', fleet: null });
      expect(await store.getJob('github', '1')).toMatchObject({ status: 'launching', fleet: 'old' });
      // Job 3 arrived before job 4, and is served before it.
      await store.releaseRunner('r4', 'done', { requeueJob: true }, 6);
      expect((await store.claimNextWaiting(fleet, () => 'x3', 7))?.job.jobId).toBe('3');
      expect(await store.rematchWaitingJobs(['linux'], () => 'linux', 8)).toEqual([]);
    });

    it('launches nothing above a lowered maxRunners, and kills nothing: the backlog waits until the fleet is under it', async () => {
      const three = { name: 'linux', maxRunners: 3 };
      for (let id = 1; id <= 4; id++) await store.admitJob(job(id), three, `r${id}`, id);
      const lowered = { name: 'linux', maxRunners: 1 };
      expect((await store.admitJob(job(5), lowered, 'r5', 5)).kind).toBe('waiting');
      await store.releaseRunner('r1', 'done', { requeueJob: false }, 6);
      await store.releaseRunner('r2', 'done', { requeueJob: false }, 7);
      expect(await store.claimNextWaiting(lowered, () => 'x', 8)).toBeUndefined();
      expect((await store.getRunner('r3'))?.status).toBe('launching');
      await store.releaseRunner('r3', 'done', { requeueJob: false }, 9);
      expect((await store.claimNextWaiting(lowered, () => 'r4-next', 10))?.job.jobId).toBe('4');
      expect(await store.claimNextWaiting(lowered, () => 'x', 11)).toBeUndefined();
    });
  });

  describe('unchecked backlog jobs', () => {
    const one = { name: 'linux', maxRunners: 1 };
    /** Jobs 1..count admitted to a fleet of one, 1 running; 2 claimed from the backlog and its check failed at `at`. */
    async function withUncheckedHead(count: number, at = 10) {
      for (let id = 1; id <= count; id++) await store.admitJob(job(id), one, `r${id}`, id);
      await store.releaseRunner('r1', 'done', { requeueJob: false }, at);
      const claim = (await store.claimNextWaiting(one, (waiting) => `c${waiting.jobId}`, at))!;
      expect(claim.job.jobId).toBe('2');
      return store.deferUncheckedJob(claim, 'job status unknown', 100, at);
    }

    it("keeps the job's place, frees its slot, and lets the next claim pass it over", async () => {
      expect(await withUncheckedHead(3)).toEqual({ uncheckedSince: 10, report: false });
      expect(await store.getJob('github', '2')).toMatchObject({ status: 'waiting', launchAttempts: 0 });
      expect(await store.getRunner('c2')).toMatchObject({ status: 'released', releasedReason: 'job status unknown' });
      const next = await store.claimNextWaiting(one, (waiting) => `c${waiting.jobId}`, 11, [{ ci: 'github', jobId: '2' }]);
      expect(next?.job.jobId).toBe('3');
      await store.releaseRunner('c3', 'done', { requeueJob: false }, 12);
      expect((await store.claimNextWaiting(one, (waiting) => `d${waiting.jobId}`, 13))?.job.jobId).toBe('2');
    });

    it('lets a newcomer pass it when the fleet has room, but not a checked job ahead', async () => {
      await withUncheckedHead(2);
      expect((await store.admitJob(job(3), one, 'r3', 11)).kind).toBe('claimed');
      await store.releaseRunner('r3', 'launch failed', { requeueJob: true }, 12);
      expect(await store.admitJob(job(4), one, 'r4', 13)).toMatchObject({ kind: 'waiting', position: 3, fleetFull: false });
    });

    it('says to report it once, when its checks have failed for longer than the limit', async () => {
      await withUncheckedHead(2, 10);
      const failAgain = async (at: number) => {
        const claim = (await store.claimNextWaiting(one, () => `c${at}`, at))!;
        return store.deferUncheckedJob(claim, 'job status unknown', 100, at);
      };
      expect(await failAgain(110)).toEqual({ uncheckedSince: 10, report: false });
      expect(await failAgain(111)).toEqual({ uncheckedSince: 10, report: true });
      expect(await failAgain(500)).toEqual({ uncheckedSince: 10, report: false });
    });

    it('is checked again once put back after a successful check', async () => {
      await withUncheckedHead(2, 10);
      await store.claimNextWaiting(one, () => 'c2b', 50);
      await store.releaseRunner('c2b', 'launch failed', { requeueJob: true }, 60);
      expect((await store.admitJob(job(3), one, 'r3', 61)).kind).toBe('waiting');
      const claim = (await store.claimNextWaiting(one, () => 'c2c', 200))!;
      expect(await store.deferUncheckedJob(claim, 'job status unknown', 100, 200)).toEqual({ uncheckedSince: 200, report: false });
    });

    it('puts nothing back for a job that completed while it was checked', async () => {
      for (let id = 1; id <= 2; id++) await store.admitJob(job(id), one, `r${id}`, id);
      await store.releaseRunner('r1', 'done', { requeueJob: false }, 3);
      const claim = (await store.claimNextWaiting(one, () => 'c2', 4))!;
      await store.completeJob('github', '2', undefined, 5);
      expect(await store.deferUncheckedJob(claim, 'job status unknown', 100, 6)).toBeUndefined();
      expect((await store.getJob('github', '2'))?.status).toBe('completed');
      expect((await store.fleetCounts()).get('linux')?.active ?? 0).toBe(0);
    });
  });

  describe('warm pools', () => {
    const placeholder = (runnerName: string): NewJob => ({ ...job(0), jobId: `warm:${runnerName}` });

    it('claims warm runners under the fleet maximum, like any runner', async () => {
      expect((await store.claimWarmRunner(fleet, placeholder('w1'), 'w1', 1))?.runner).toMatchObject({
        name: 'w1',
        warm: true,
        status: 'launching',
      });
      expect(await store.claimWarmRunner(fleet, placeholder('w2'), 'w2', 2)).toBeDefined();
      expect(await store.claimWarmRunner(fleet, placeholder('w3'), 'w3', 3)).toBeUndefined();
      expect((await store.fleetCounts()).get('linux')).toEqual({ active: 2, waiting: 0 });
      expect((await store.warmRunners('linux')).map((runner) => runner.name)).toEqual(['w1', 'w2']);
    });

    it('gives a job the oldest idle warm runner, closing its placeholder, only when asked', async () => {
      await store.claimWarmRunner(fleet, placeholder('w1'), 'w1', 1);
      await store.markRunnerLaunched('w1', 'task-1', 'FARGATE', 2);
      await store.claimWarmRunner(fleet, placeholder('w2'), 'w2', 3);

      expect((await store.admitJob(job(1), { ...fleet, maxRunners: 3 }, 'r1', 4)).kind).toBe('claimed');
      const pooled = await store.admitJob(job(2), fleet, 'r2', 5, { useWarmRunner: true });

      expect(pooled).toMatchObject({
        kind: 'pooled',
        job: { status: 'launched', runnerName: 'w1' },
        runner: { name: 'w1', warm: false, jobId: '2' },
      });
      expect((await store.getJob('github', 'warm:w1'))?.status).toBe('completed');
      expect(await store.getRunner('r2')).toBeUndefined();
      // A runner still launching is given too; its job follows it to `launched`.
      expect(await store.admitJob(job(3), fleet, 'r3', 6, { useWarmRunner: true })).toMatchObject({
        kind: 'pooled',
        job: { status: 'launching' },
      });
      await store.markRunnerLaunched('w2', 'task-2', 'FARGATE', 7);
      expect((await store.getJob('github', '3'))?.status).toBe('launched');
      expect(await store.warmRunners('linux')).toEqual([]);
    });

    it('lets a job waiting in the backlog go first', async () => {
      await store.admitJob(job(1), { ...fleet, maxRunners: 0 }, 'r1', 1);
      await store.claimWarmRunner({ ...fleet, maxRunners: 1 }, placeholder('w1'), 'w1', 2);
      expect((await store.admitJob(job(2), fleet, 'r2', 3, { useWarmRunner: true })).kind).toBe('waiting');
    });

    it("closes a released warm runner's placeholder instead of putting it in the backlog", async () => {
      await store.claimWarmRunner(fleet, placeholder('w1'), 'w1', 1);
      await store.releaseRunner('w1', 'task stopped', { requeueJob: true }, 2);
      expect((await store.getJob('github', 'warm:w1'))?.status).toBe('completed');
      expect((await store.fleetCounts()).get('linux')?.waiting ?? 0).toBe(0);
    });
  });
});
