import { pino } from 'pino';
import { GitLabApi, GitLabSource, gitlabJobId, type GitLabOrigin } from '../../../src/ci/gitlab.js';
import { GitLabSweep, SEEN_PROJECT_WINDOW_MS, type SweepPass } from '../../../src/ci/gitlab-sweep.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { fleetSpecSchema, type FleetSpec } from '../../../src/fleets/spec.js';
import type { Admission, JobRecord, NewJob } from '../../../src/store/types.js';
import { FakeGitLab } from '../../helpers/gitlab.js';
import { logLines } from '../../helpers/log-lines.js';
import { UNTIMED } from '../../helpers/records.js';

/** The pending jobs' creation, as the GitLab stand-in lists them (test/fixtures/gitlab/job.json): when their wait began. */
const CREATED_AT = Date.parse('2026-02-23T02:41:37.886Z');

const API_TOKEN = 'glpat-sweep-test-token';
const TOKEN_PARAMETER = '/fleetbot/gitlab/api-token';
const DAY = 24 * 3600_000;

let gitlab: FakeGitLab;
beforeEach(async () => {
  gitlab = await FakeGitLab.start(API_TOKEN);
});
afterEach(async () => {
  await gitlab.stop();
});

function gitlabFleet(projects: Array<number | string> = [], labels = ['linux', 'docker']): FleetSpec {
  return fleetSpecSchema.parse({
    name: 'gl-linux',
    ci: 'gitlab',
    labels,
    maxRunners: 5,
    gitlab: {
      url: gitlab.url,
      tokenParameter: '/fleetbot/gitlab/runner-token',
      apiTokenParameter: TOKEN_PARAMETER,
      webhookSecretParameter: '/fleetbot/gitlab/webhook-secret',
      projects,
    },
    compute: { type: 'ecs', cluster: 'runners', taskDefinition: 'gl-runner', subnets: ['subnet-1'] },
  });
}

/** The origin the Job Hook of a job gives it (gitlab-webhook.ts), which the sweep must give it too. */
const webhookOrigin = (projectId: number, buildId: number): GitLabOrigin => ({
  instanceUrl: gitlab.url,
  projectId,
  buildId,
  apiTokenParameter: TOKEN_PARAMETER,
});

/** A sweep against the fake GitLab, over a store and sink that keep jobs in memory as the store would, once each. */
function setUp(options: { fleets?: FleetSpec[]; now?: () => number } = {}) {
  const { lines, sink: logSink } = logLines();
  const clock = { now: options.now ?? (() => 10 * DAY) };
  const recorded = new Map<string, JobRecord>();
  const queued: NewJob[] = [];
  const originReads: number[] = [];
  const forgotten: string[] = [];
  const record = (job: NewJob, receivedAt = clock.now()): JobRecord => {
    const stored: JobRecord = {
      ...job,
      fleet: 'gl-linux',
      status: 'launched',
      runnerName: null,
      launchAttempts: 1,
      receivedAt,
      startedAt: null,
      ...UNTIMED,
      updatedAt: receivedAt,
    };
    recorded.set(job.jobId, stored);
    return stored;
  };
  const source = new GitLabSource(new GitLabApi({ attempts: 2, baseDelayMs: 1, maxDelayMs: 1 }, 1_000), {
    read: async (name) => (name === TOKEN_PARAMETER ? API_TOKEN : Promise.reject(new Error(`no ${name}`))),
    forget: (name) => forgotten.push(name),
  });
  const sweep = new GitLabSweep({
    source,
    fleets: new FleetRegistry(options.fleets ?? [gitlabFleet()]),
    store: {
      getJob: async (_ci, jobId) => recorded.get(jobId),
      jobOrigins: async (since) => {
        originReads.push(since);
        return [...recorded.values()].filter((job) => job.receivedAt >= since);
      },
    },
    sink: {
      jobQueued: async (job): Promise<Admission> => {
        queued.push(job);
        const known = recorded.get(job.jobId);
        return known ? { kind: 'duplicate', job: known } : ({ kind: 'claimed', job: record(job) } as Admission);
      },
      jobStarted: async () => undefined,
      jobCompleted: async () => undefined,
    },
    log: pino({ level: 'debug' }, logSink),
    now: () => clock.now(),
  });
  /** A job of the project as its Job Hook recorded it: the project counts as seen from then on. */
  const seenJob = (projectId: number, buildId: number, receivedAt?: number) =>
    record(
      { ci: 'gitlab', jobId: gitlabJobId(gitlab.url, buildId), labels: ['linux'], origin: webhookOrigin(projectId, buildId) },
      receivedAt,
    );
  const logged = (level: number) => lines.map((line) => JSON.parse(line) as Record<string, any>).filter((line) => line.level === level);
  return { sweep, queued, recorded, originReads, forgotten, seenJob, clock, logged };
}

const recoveredIds = (pass: SweepPass) => pass.recovered.map(({ jobId }) => jobId);
const INFO = 30;
const WARN = 40;
const ERROR = 50;

describe('the GitLab sweep for pending jobs whose webhook was lost', () => {
  it("admits an unknown pending job of a project jobs came from once, as its Job Hook would have: tags as labels, the hook's origin", async () => {
    const { sweep, queued, seenJob } = setUp();
    seenJob(380, 7000);
    gitlab.addJob(380, 7001, 'pending', ['linux']);
    gitlab.addJob(380, 7002, 'running', ['linux']);

    const first = await sweep.pass();
    const second = await sweep.pass();

    expect(queued).toEqual([
      { ci: 'gitlab', jobId: gitlabJobId(gitlab.url, 7001), labels: ['linux'], origin: webhookOrigin(380, 7001), queuedAt: CREATED_AT },
    ]);
    expect(first).toEqual({
      projects: 1,
      pending: 1,
      recovered: [{ jobId: gitlabJobId(gitlab.url, 7001), admission: 'claimed' }],
      notOurs: 0,
      failed: 0,
    });
    expect(second).toMatchObject({ pending: 1, recovered: [] });
    expect(gitlab.listings(380)[0]).toBe('GET /api/v4/projects/380/jobs?scope[]=pending&per_page=100&page=1');
  });

  it('leaves a job the store already knows to the store: no second admission', async () => {
    const { sweep, queued, seenJob } = setUp();
    seenJob(380, 7001);
    gitlab.addJob(380, 7001, 'pending', ['linux']);

    expect(await sweep.pass()).toMatchObject({ pending: 1, recovered: [] });
    expect(queued).toEqual([]);
  });

  it.each(['x-next-page', 'link'] as const)('reads every page of a long listing (next page named by %s)', async (pagination) => {
    const { sweep, queued, seenJob } = setUp();
    seenJob(380, 1);
    gitlab.pageSize = 40;
    gitlab.pagination = pagination;
    for (let buildId = 100; buildId < 190; buildId++) gitlab.addJob(380, buildId, 'pending', ['docker']);

    const pass = await sweep.pass();

    expect(pass.recovered).toHaveLength(90);
    expect(new Set(queued.map((job) => job.jobId)).size).toBe(90);
    expect(gitlab.listings(380).map((request) => request.split('&page=')[1])).toEqual(['1', '2', '3']);
  });

  it('ignores pending jobs whose tags no GitLab fleet serves, and records nothing of them', async () => {
    const { sweep, queued, seenJob, logged } = setUp();
    seenJob(380, 7000);
    gitlab.addJob(380, 7001, 'pending', ['windows']);
    gitlab.addJob(380, 7002, 'pending', ['linux', 'gpu']);

    expect(await sweep.pass()).toMatchObject({ pending: 2, notOurs: 2, recovered: [] });
    expect(await sweep.pass()).toMatchObject({ pending: 2, notOurs: 2, recovered: [] });
    expect(queued).toEqual([]);
    expect(logged(INFO)).toEqual([]);
  });

  it("sweeps a fleet's listed projects, by id or full path, before any job of theirs is seen", async () => {
    const { sweep, queued } = setUp({ fleets: [gitlabFleet([381, 'acme/tools/app'])] });
    gitlab.paths.set('acme/tools/app', 382);
    gitlab.addJob(381, 8001, 'pending', ['linux']);
    gitlab.addJob(382, 8002, 'pending', ['linux', 'docker']);

    const pass = await sweep.pass();

    expect(pass).toMatchObject({ projects: 2, failed: 0 });
    expect(queued).toEqual(
      expect.arrayContaining([
        { ci: 'gitlab', jobId: gitlabJobId(gitlab.url, 8001), labels: ['linux'], origin: webhookOrigin(381, 8001), queuedAt: CREATED_AT },
        // A project swept by its path gets its id from the listing, as the Job Hook would give it.
        {
          ci: 'gitlab',
          jobId: gitlabJobId(gitlab.url, 8002),
          labels: ['linux', 'docker'],
          origin: webhookOrigin(382, 8002),
          queuedAt: CREATED_AT,
        },
      ]),
    );
    expect(gitlab.listings('acme%2Ftools%2Fapp')).toHaveLength(1);
  });

  it('sweeps the other projects when one answers 5xx and one refuses the token; a refusal is an error once, until it lists again', async () => {
    const { sweep, queued, forgotten, logged } = setUp({ fleets: [gitlabFleet([381, 382, 383])] });
    gitlab.failingProjects.set('381', 503);
    gitlab.failingProjects.set('382', 401);
    gitlab.addJob(383, 9001, 'pending', ['linux']);

    expect(await sweep.pass()).toMatchObject({ projects: 3, failed: 2, recovered: [{ jobId: gitlabJobId(gitlab.url, 9001) }] });
    await sweep.pass();

    expect(queued.map((job) => job.jobId)).toEqual([gitlabJobId(gitlab.url, 9001)]);
    expect(logged(WARN).map((line) => [line.project, line.msg, line.err.status])).toEqual(
      Array(2).fill([381, "could not list the project's pending jobs; sweeping it again next pass", 503]),
    );
    const errors = logged(ERROR);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ project: 382, err: { status: 401 } });
    expect(errors[0]!.msg).toContain(`GitLab refused to list the project's pending jobs (HTTP 401)`);
    expect(errors[0]!.msg).toContain(`give the token in ${TOKEN_PARAMETER} read_api on the project`);
    // The token is read again after each refusal, in case it was replaced.
    expect(forgotten).toEqual([TOKEN_PARAMETER, TOKEN_PARAMETER]);

    gitlab.failingProjects.delete('382');
    gitlab.addJob(382, 9002, 'pending', ['linux']);
    expect(recoveredIds(await sweep.pass())).toEqual([gitlabJobId(gitlab.url, 9002)]);
    expect(logged(INFO).map((line) => [line.project, line.msg])).toContainEqual([382, "GitLab lists the project's pending jobs again"]);
    expect(JSON.stringify(logged(WARN).concat(logged(ERROR)))).not.toContain(API_TOKEN);
  });

  it('logs one summary line for a pass that recovered jobs, and none for a pass that recovered nothing', async () => {
    const { sweep, seenJob, logged } = setUp();
    seenJob(380, 7000);
    await sweep.pass();
    expect(logged(INFO)).toEqual([]);

    gitlab.addJob(380, 7001, 'pending', ['linux']);
    gitlab.addJob(380, 7002, 'pending', ['docker']);
    gitlab.addJob(380, 7003, 'pending', ['windows']);
    await sweep.pass();
    await sweep.pass();

    const summaries = logged(INFO);
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({
      gitlabSweep: { projects: 1, pending: 3, recovered: 2, byAdmission: { claimed: 2 }, notOurs: 1, failed: 0 },
      msg: `GitLab sweep admitted 2 pending job(s) fleetbot had not recorded: ${gitlabJobId(gitlab.url, 7002)}, ${gitlabJobId(gitlab.url, 7001)}`,
    });
  });

  it('keeps sweeping a project for a week after its latest job, reading only new jobs from the store after the first pass', async () => {
    let now = 30 * DAY;
    const { sweep, seenJob, originReads } = setUp({ now: () => now });
    seenJob(380, 7000, now - 2 * DAY);
    seenJob(390, 7100, now - 8 * DAY);

    expect(await sweep.pass()).toMatchObject({ projects: 1 });
    expect(originReads).toEqual([now - SEEN_PROJECT_WINDOW_MS]);
    const firstPassAt = now;
    now += 60_000;
    seenJob(391, 7200, now - 1_000);
    expect(await sweep.pass()).toMatchObject({ projects: 2 });
    expect(originReads[1]).toBe(firstPassAt - 60_000);
    expect(gitlab.listings(390)).toEqual([]);

    now = firstPassAt + 5 * DAY + 1;
    expect(await sweep.pass()).toMatchObject({ projects: 1 });
    expect(gitlab.listings(380)).toHaveLength(2);
    expect(gitlab.listings(391)).toHaveLength(2);
  });

  it('sweeps a seen project only with an API token a fleet of its instance still names', async () => {
    const { sweep, recorded } = setUp();
    const origin = { ...webhookOrigin(380, 7000), apiTokenParameter: '/fleetbot/gitlab/retired-token' };
    recorded.set('old', { ...({} as JobRecord), ci: 'gitlab', jobId: 'old', labels: ['linux'], origin, receivedAt: 10 * DAY });
    const elsewhere = { ...webhookOrigin(381, 7001), instanceUrl: 'https://gitlab.elsewhere.example' };
    recorded.set('elsewhere', {
      ...({} as JobRecord),
      ci: 'gitlab',
      jobId: 'elsewhere',
      labels: ['linux'],
      origin: elsewhere,
      receivedAt: 10 * DAY,
    });

    expect(await sweep.pass()).toMatchObject({ projects: 0 });
    expect(gitlab.requests).toEqual([]);
  });
});
