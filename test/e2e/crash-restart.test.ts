import Database from 'better-sqlite3';
import type { FleetSpecInput } from '../../src/fleets/spec.js';
import { createRunnerInfra, ecsCompute, fleetbotTasks, tagOf } from '../helpers/aws-fixture.js';
import { appEnvironment, eventually, sign, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { allInstances, createEc2RunnerInfra, tagsAsRecord } from '../helpers/ec2-fixture.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { startHoldingProxy, type HoldingProxy } from '../helpers/holding-proxy.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { completedJob, queuedJob } from '../helpers/payloads.js';

const JOBS = 40;
const SENDERS = 4;
const MAX_RUNNERS = 10;
const LAUNCH_TIMEOUT_SECONDS = 1;
/** Killed `during the burst`: once this many deliveries were answered (the first 10 claim every slot). */
const KILL_AFTER_ANSWERED = 15;
/** The point of a burst at which the app is killed. */
type KillPoint = 'during the burst' | 'right after the burst' | 'while launches are in flight' | 'before completed runners are stopped';
type ComputeKind = 'ecs' | 'ec2';

/** An ECS task or EC2 instance fleetbot started, as the cloud shows it. */
interface CloudRunner {
  id: string;
  job: string | undefined;
  runner: string | undefined;
  live: boolean;
}

/** A fleet's compute in moto, and how to read back what runs on it. */
interface Cloud {
  compute: FleetSpecInput['compute'];
  /** The AWS actions that start and stop one runner. */
  launchAction: string;
  stopAction: string;
  runners(): Promise<CloudRunner[]>;
}

async function ecsCloud(moto: Moto, name: string): Promise<Cloud> {
  const infra = await createRunnerInfra(moto, name);
  return {
    compute: ecsCompute(infra),
    launchAction: 'RunTask',
    stopAction: 'StopTask',
    runners: async () =>
      (await fleetbotTasks(moto, infra.cluster)).map((task) => ({
        id: task.taskArn!,
        job: tagOf(task, 'fleetbot:job'),
        runner: tagOf(task, 'fleetbot:runner'),
        live: task.desiredStatus === 'RUNNING',
      })),
  };
}

async function ec2Cloud(moto: Moto, name: string): Promise<Cloud> {
  const infra = await createEc2RunnerInfra(moto, `${name}-template`);
  return {
    compute: { type: 'ec2', launchTemplate: infra.launchTemplateName, instanceTypes: ['m7i.large'], subnets: infra.subnetIds },
    launchAction: 'RunInstances',
    stopAction: 'TerminateInstances',
    runners: async () =>
      (await allInstances(moto))
        .map((instance) => ({ instance, tags: tagsAsRecord(instance.Tags) }))
        .filter(({ tags }) => tags['fleetbot:fleet'] === name)
        .map(({ instance, tags }) => ({
          id: instance.InstanceId!,
          job: tags['fleetbot:job'],
          runner: tags['fleetbot:runner'],
          live: ['pending', 'running'].includes(instance.State?.Name ?? ''),
        })),
  };
}

interface Delivery {
  jobId: number;
  body: string;
  signature: string;
}

function deliveries(payloads: unknown[]): Delivery[] {
  return payloads.map((payload) => {
    const body = JSON.stringify(payload);
    return { jobId: (payload as { workflow_job: { id: number } }).workflow_job.id, body, signature: sign(body) };
  });
}

/**
 * Posts every delivery from `SENDERS` concurrent loops and returns those answered 2xx (GitHub counts
 * them delivered and never redelivers them by itself). A refused or reset connection (the app is dead)
 * or another status leaves a delivery unanswered. `onAnswered` sees the running count.
 */
async function send(app: AppProcess, event: string, batch: Delivery[], onAnswered?: (answered: number) => void): Promise<Set<Delivery>> {
  let next = 0;
  const answered = new Set<Delivery>();
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      while (next < batch.length) {
        const delivery = batch[next++];
        const status = await app.postPrepared(event, delivery.body, delivery.signature).catch(() => 0);
        if (status < 200 || status >= 300) continue;
        answered.add(delivery);
        onAnswered?.(answered.size);
      }
    }),
  );
  return answered;
}

interface JobRow {
  job_id: string;
  status: string;
  runner_name: string | null;
}

interface RunnerRow {
  name: string;
  job_id: string;
  status: string;
  compute_id: string | null;
}

/** The app's SQLite file, read the way an operator would, with a connection of its own. */
function readStore(file: string) {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return {
      jobs: db.prepare('SELECT job_id, status, runner_name FROM jobs').all() as JobRow[],
      runners: db.prepare('SELECT name, job_id, status, compute_id FROM runners').all() as RunnerRow[],
    };
  } finally {
    db.close();
  }
}

interface PassSummary {
  released: number;
  relaunched: number;
  adopted: number;
  orphansStopped: number;
  errors: number;
}

/** The reconciler's pass summaries in the app's JSON log, in order. */
function passes(app: AppProcess): PassSummary[] {
  return app
    .output()
    .split('\n')
    .filter((line) => line.includes('"msg":"reconcile pass"'))
    .map((line) => (JSON.parse(line) as { reconcile: PassSummary }).reconcile);
}

/** Completes every launched job until none is left open; each completion hands its slot to the next. */
async function completeAll(app: AppProcess, file: string, github: FakeGitHub): Promise<void> {
  const completed = new Set<string>();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { jobs } = readStore(file);
    if (jobs.every((job) => job.status === 'completed')) return;
    if (Date.now() > deadline) throw new Error(`jobs still open: ${JSON.stringify(jobs.filter((job) => job.status !== 'completed'))}`);
    const fresh = jobs.filter((job) => job.status === 'launched' && !completed.has(job.job_id));
    if (fresh.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    for (const job of fresh) {
      completed.add(job.job_id);
      github.setJobStatus(job.job_id, 'completed');
    }
    const batch = deliveries(fresh.map((job) => completedJob({ jobId: Number(job.job_id), org: 'acme', runnerName: job.runner_name })));
    expect((await send(app, 'workflow_job', batch)).size).toBe(batch.length);
  }
}

function countBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string | undefined, number> {
  const counts = new Map<string | undefined, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

describeWithMoto('fleetbot killed with SIGKILL in a burst and started again on the same database', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let proxy: HoldingProxy;
  const running: AppProcess[] = [];
  let caseNumber = 0;

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    // The app reaches AWS through the proxy, so a test can let launches happen without their answers.
    proxy = await startHoldingProxy(moto.url);
  });
  afterEach(async () => {
    proxy.passThrough();
    for (const app of running.splice(0)) await app.kill();
  });
  afterAll(async () => {
    await proxy?.close();
    await github?.close();
    await moto?.stop();
  });

  const cases: Array<[ComputeKind, KillPoint]> = [
    ['ecs', 'during the burst'],
    ['ecs', 'right after the burst'],
    ['ecs', 'while launches are in flight'],
    ['ecs', 'before completed runners are stopped'],
    ['ec2', 'while launches are in flight'],
    ['ec2', 'before completed runners are stopped'],
  ];

  it.each(cases)(
    '%s fleet, killed %s: loses no job, launches none twice, and one pass leaves the cloud matching the store',
    async (kind, killPoint) => {
      const number = ++caseNumber;
      const fleetName = `crash-${kind}-${number}`;
      const cloud = kind === 'ecs' ? await ecsCloud(moto, fleetName) : await ec2Cloud(moto, fleetName);
      const env = appEnvironment(
        moto,
        github,
        [{ name: fleetName, labels: ['self-hosted', 'linux'], maxRunners: MAX_RUNNERS, compute: cloud.compute }],
        {
          AWS_ENDPOINT_URL: proxy.url,
          FLEETBOT_RECONCILE_INTERVAL_SECONDS: '1',
          FLEETBOT_LAUNCH_TIMEOUT_SECONDS: String(LAUNCH_TIMEOUT_SECONDS),
        },
      );
      const start = async () => {
        const app = await startAppProcess(env);
        running.push(app);
        return app;
      };
      const firstJobId = 7_000_000 + number * 1000;
      const burst = deliveries(Array.from({ length: JOBS }, (_, index) => queuedJob({ jobId: firstJobId + index, org: 'acme' })));

      // 1. The burst, and the kill.
      const first = await start();
      if (killPoint === 'while launches are in flight') proxy.holdAnswers(cloud.launchAction);
      const answered = await send(first, 'workflow_job', burst, (count) => {
        if (killPoint === 'during the burst' && count === KILL_AFTER_ANSWERED) void first.kill();
      });
      if (killPoint === 'while launches are in flight') {
        // Every slot's runner exists in the cloud; the app has heard of none of them.
        await eventually('every launch to reach the cloud', async () => (proxy.held(cloud.launchAction) >= MAX_RUNNERS ? true : undefined));
      }
      let completedBeforeKill = 0;
      if (killPoint === 'before completed runners are stopped') {
        // The first wave's jobs complete: their runners are released in the store, but the app dies
        // before its stop calls reach the cloud.
        const launched = await eventually('every slot launched', async () => {
          const jobs = readStore(env.FLEETBOT_DB).jobs.filter((job) => job.status === 'launched');
          return jobs.length === MAX_RUNNERS ? jobs : undefined;
        });
        proxy.swallowCalls(cloud.stopAction);
        const completions = deliveries(
          launched.map((job) => completedJob({ jobId: Number(job.job_id), org: 'acme', runnerName: job.runner_name })),
        );
        expect((await send(first, 'workflow_job', completions)).size).toBe(MAX_RUNNERS);
        await eventually('every stop call sent', async () => (proxy.swallowed(cloud.stopAction) >= MAX_RUNNERS ? true : undefined));
        completedBeforeKill = MAX_RUNNERS;
      }
      await first.kill();
      const killedAt = Date.now();
      proxy.passThrough();

      const atKill = readStore(env.FLEETBOT_DB);
      const recorded = new Set(atKill.jobs.map((job) => job.job_id));
      // A 2xx answer means the job was durable: the kill lost none of them.
      expect([...answered].filter((delivery) => !recorded.has(String(delivery.jobId)))).toEqual([]);
      if (killPoint === 'during the burst') expect(answered.size).toBeLessThan(JOBS);
      else expect(answered.size).toBe(JOBS);
      const launchingAtKill = atKill.runners.filter((runner) => runner.status === 'launching').length;
      if (killPoint === 'while launches are in flight') expect(launchingAtKill).toBe(MAX_RUNNERS);

      // 2. Start again on the same file, once a launch under way at the kill counts as lost.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, killedAt + LAUNCH_TIMEOUT_SECONDS * 1000 - Date.now())));
      const second = await start();

      // GitHub redelivers what was not answered 2xx; some answered ones are redelivered too (by hand, say).
      const redelivered = burst.filter((delivery, index) => !answered.has(delivery) || index % 4 === 0);
      const redeliveredKnown = redelivered.filter((delivery) => recorded.has(String(delivery.jobId))).length;
      expect((await send(second, 'workflow_job', redelivered)).size).toBe(redelivered.length);

      // 3. One whole reconciler pass after the redeliveries, and the launches it started.
      const passesSoFar = passes(second).length;
      await eventually('a reconciler pass begun after the redeliveries', async () =>
        passes(second).length >= passesSoFar + 2 ? true : undefined,
      );
      const store = await eventually('no runner left launching', async () => {
        const snapshot = readStore(env.FLEETBOT_DB);
        return snapshot.runners.some((runner) => runner.status === 'launching') ? undefined : snapshot;
      });
      // Each redelivery of a job the store already had was ignored as such, and nothing else was.
      const redeliveriesIgnored = second
        .output()
        .split('\n')
        .filter((line) => line.includes('redelivery ignored')).length;
      expect(redeliveriesIgnored).toBe(redeliveredKnown);
      const summaries = passes(second);
      const total = (key: keyof PassSummary) => summaries.reduce((sum, summary) => sum + summary[key], 0);
      // Every launch the kill interrupted was taken up once: adopted if its runner existed, launched again if not.
      expect(total('adopted') + total('relaunched')).toBe(launchingAtKill);
      if (killPoint === 'while launches are in flight') expect(total('adopted')).toBe(MAX_RUNNERS);
      // The released runners' tasks or instances are stopped at once, without an orphan grace period.
      expect(total('orphansStopped')).toBe(completedBeforeKill);
      expect(total('errors')).toBe(0);

      const jobsById = new Map(store.jobs.map((job) => [job.job_id, job]));
      // Every job not completed is launched or waits in the backlog, drained up to the fleet's maximum.
      expect(store.jobs).toHaveLength(JOBS);
      const open = JOBS - completedBeforeKill;
      expect(countBy(store.jobs, (job) => job.status)).toEqual(
        new Map([
          ['launched', MAX_RUNNERS],
          ['waiting', open - MAX_RUNNERS],
          ...(completedBeforeKill > 0 ? [['completed', completedBeforeKill] as const] : []),
        ]),
      );
      const inCloud = await cloud.runners();
      const live = inCloud.filter((runner) => runner.live);
      // None launched twice: at most one runner in the cloud per job; one live per launched job, none
      // for a waiting one.
      expect([...countBy(inCloud, (runner) => runner.job).values()].filter((count) => count > 1)).toEqual([]);
      expect(new Set(live.map((runner) => runner.job))).toEqual(
        new Set(store.jobs.filter((job) => job.status === 'launched').map((job) => job.job_id)),
      );
      expect(inCloud.filter((runner) => !runner.live).every((runner) => jobsById.get(runner.job!)?.status === 'completed')).toBe(true);
      // No orphans: every live runner in the cloud is the live runner record of its job.
      const active = store.runners.filter((runner) => runner.status === 'running');
      const activeByName = new Map(active.map((runner) => [runner.name, runner]));
      for (const runner of live) {
        expect(activeByName.get(runner.runner!)).toMatchObject({ job_id: runner.job, compute_id: runner.id });
        expect(jobsById.get(runner.job!)).toMatchObject({ status: 'launched', runner_name: runner.runner });
      }
      // Capacity: active in the store = live in the cloud, under the cap.
      expect(active).toHaveLength(live.length);
      expect(live.length).toBeLessThanOrEqual(MAX_RUNNERS);

      // 4. Every job completes and everything drains to zero.
      await completeAll(second, env.FLEETBOT_DB, github);
      await eventually('the cloud to drain', async () => ((await cloud.runners()).some((runner) => runner.live) ? undefined : true));
      const drained = readStore(env.FLEETBOT_DB);
      expect(drained.runners.filter((runner) => runner.status !== 'released')).toEqual([]);
      expect(drained.jobs.filter((job) => job.status !== 'completed')).toEqual([]);
      const ranOnce = countBy(await cloud.runners(), (runner) => runner.job);
      expect(ranOnce.size).toBe(JOBS);
      expect([...ranOnce.values()].every((count) => count === 1)).toBe(true);
      expect(second.output()).not.toMatch(/"level":50/);
    },
    60_000,
  );
});
