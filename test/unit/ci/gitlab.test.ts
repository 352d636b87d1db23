import {
  GitLabApi,
  GitLabApiError,
  GitLabSource,
  gitlabJobId,
  gitlabQueuedAt,
  MAX_PENDING_PAGES,
  parseJobHook,
} from '../../../src/ci/gitlab.js';
import { fleetSpecSchema } from '../../../src/fleets/spec.js';
import type { SecretReader } from '../../../src/secrets/types.js';
import type { JobRecord, RunnerRecord } from '../../../src/store/types.js';
import { jobHookPayload, jobResponse } from '../../helpers/gitlab-payloads.js';
import { UNTIMED } from '../../helpers/records.js';

const FAST_RETRY = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

describe('reading Job Hook payloads', () => {
  it('reads a pending job: its build, project and project URL (tags come from the API)', () => {
    expect(parseJobHook(jobHookPayload({ buildId: 1977 }))).toEqual({
      kind: 'pending',
      buildId: 1977,
      projectId: 380,
      projectUrl: 'http://gitlab.example.com/gitlab-org/gitlab-test',
    });
  });

  it.each([
    ['success', 'success'],
    ['failed', 'failure'],
    ['canceled', 'cancelled'],
    ['skipped', 'success'],
  ])('reads a %s job as finished (%s), with the runner that ran it', (status, conclusion) => {
    expect(parseJobHook(jobHookPayload({ buildId: 5, status, runnerDescription: 'gl-linux-x-5-ab12cd' }))).toMatchObject({
      kind: 'finished',
      buildId: 5,
      runnerDescription: 'gl-linux-x-5-ab12cd',
      conclusion,
    });
  });

  it('reads a job cancelled before any runner took it as finished with no runner', () => {
    const parsed = parseJobHook(jobHookPayload({ buildId: 5, status: 'canceled' }));
    expect(parsed.kind === 'finished' && parsed.runnerDescription).toBeUndefined();
  });

  it('reads when a runner took a running job, and since when it waited (its start less its queued duration)', () => {
    const hook = jobHookPayload({ buildId: 5, status: 'running', runnerDescription: 'gl-linux-host-5-abc123' });
    const payload = {
      ...hook,
      build_started_at: '2026-02-23 02:42:07 UTC',
      build_started_at_iso: '2026-02-23T02:42:07Z',
      build_queued_duration: 28.5,
    };
    expect(parseJobHook(payload)).toEqual({
      kind: 'running',
      buildId: 5,
      projectUrl: hook.project.web_url,
      runnerDescription: 'gl-linux-host-5-abc123',
      startedAt: Date.parse('2026-02-23T02:42:07Z'),
      queuedAt: Date.parse('2026-02-23T02:42:07Z') - 28_500,
    });
  });

  it("reads GitLab's older time format, and the job's creation when it gives no queued duration", () => {
    const payload = {
      ...jobHookPayload({ buildId: 5, status: 'running' }),
      build_started_at: '2026-02-23 02:42:07 UTC',
      build_started_at_iso: undefined,
      build_created_at_iso: undefined,
      build_queued_duration: null,
    };
    const parsed = parseJobHook(payload);
    expect(parsed).toMatchObject({
      kind: 'running',
      startedAt: Date.parse('2026-02-23T02:42:07Z'),
      queuedAt: Date.parse('2026-02-23T02:41:37Z'),
    });
  });

  it.each(['created', 'manual'])('ignores a %s job', (status) => {
    expect(parseJobHook(jobHookPayload({ buildId: 5, status }))).toEqual({
      kind: 'ignored',
      reason: `build_status "${status}" needs nothing`,
    });
  });

  it('names every malformed field', () => {
    const payload = { ...jobHookPayload({ buildId: 5 }), build_id: 'five', project_id: undefined };
    expect(parseJobHook(payload)).toEqual({
      kind: 'malformed',
      reason: expect.stringMatching(/^malformed Job Hook payload: build_id: .*; project_id: /),
    });
    expect(parseJobHook({ object_kind: 'pipeline' })).toMatchObject({ kind: 'malformed' });
    expect(parseJobHook(null)).toMatchObject({ kind: 'malformed', reason: expect.stringContaining('(payload)') });
  });
});

describe('GitLab job ids', () => {
  it('carry the instance host, so two instances never collide, with a port kept SSM-safe', () => {
    expect(gitlabJobId('https://gitlab.com', 42)).toBe('gitlab.com-42');
    expect(gitlabJobId('https://gitlab.example.com:8443', 42)).toBe('gitlab.example.com_8443-42');
    expect(gitlabJobId('https://gitlab.com', 42)).not.toBe(gitlabJobId('https://gitlab.example.com', 42));
  });
});

/** A fetch that answers from a list, recording each request's URL and PRIVATE-TOKEN. */
function scriptedFetch(answers: Array<Response | Error>) {
  const calls: Array<{ url: string; token: string | null }> = [];
  const fetchFn = (async (url: string, init: RequestInit) => {
    calls.push({ url, token: new Headers(init.headers).get('private-token') });
    const answer = answers.shift();
    if (!answer) throw new Error('no more answers scripted');
    if (answer instanceof Error) throw answer;
    return answer;
  }) as unknown as typeof fetch;
  return { fetchFn, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('the GitLab API client', () => {
  it('reads a job with the API token, retrying 5xx, 429 and network failures', async () => {
    const { fetchFn, calls } = scriptedFetch([
      json(502, {}),
      new TypeError('fetch failed'),
      json(200, jobResponse(7, 'pending', ['linux'])),
    ]);
    const api = new GitLabApi(FAST_RETRY, 1_000, fetchFn);

    const job = await api.getJob('https://gitlab.example.com', 380, 7, 'glpat-secret');

    expect(job).toEqual({ id: 7, status: 'pending', tag_list: ['linux'], created_at: '2026-02-23T02:41:37.886Z' });
    expect(gitlabQueuedAt(job)).toBe(Date.parse('2026-02-23T02:41:37.886Z'));
    expect(calls).toEqual(Array(3).fill({ url: 'https://gitlab.example.com/api/v4/projects/380/jobs/7', token: 'glpat-secret' }));
  });

  it('does not retry other 4xx, and says which call failed without the token', async () => {
    const { fetchFn, calls } = scriptedFetch([json(401, { message: '401 Unauthorized' })]);
    const api = new GitLabApi(FAST_RETRY, 1_000, fetchFn);

    const failure = await api.getJob('https://gitlab.example.com', 380, 7, 'glpat-secret').catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(GitLabApiError);
    expect(failure).toMatchObject({ status: 401, message: 'GET /api/v4/projects/380/jobs/7 answered 401', verdict: { retry: false } });
    expect(calls).toHaveLength(1);
  });

  it('waits as long as Retry-After says on a 429', async () => {
    const { fetchFn } = scriptedFetch([json(429, {}, { 'retry-after': '7' })]);
    const api = new GitLabApi({ ...FAST_RETRY, attempts: 1 }, 1_000, fetchFn);

    await expect(api.getJob('https://gitlab.example.com', 1, 2, 't')).rejects.toMatchObject({ verdict: { retry: true, afterMs: 7_000 } });
  });

  const listed = (id: number) => ({ ...jobResponse(id, 'pending', ['linux']), pipeline: { id: 1, project_id: 380 } });
  const collect = async (pages: AsyncIterable<unknown[]>) => {
    const all: unknown[] = [];
    for await (const page of pages) all.push(...page);
    return all;
  };

  it('lists pending jobs page by page, following only the page number of a Link header (absolute or relative), never its host', async () => {
    const { fetchFn, calls } = scriptedFetch([
      json(200, [listed(9)], { link: '<https://elsewhere.example/api/v4/projects/380/jobs?page=2&per_page=100>; rel="next"' }),
      json(200, [listed(8)], { link: '</api/v4/projects/380/jobs?page=3>; rel="next"' }),
      json(200, [listed(7)], { 'x-next-page': '' }),
    ]);
    const api = new GitLabApi(FAST_RETRY, 1_000, fetchFn);

    const jobs = await collect(api.pendingJobs('https://gitlab.example.com', 'acme/app', 'glpat-secret'));

    expect(jobs).toHaveLength(3);
    expect(calls).toEqual(
      [1, 2, 3].map((page) => ({
        url: `https://gitlab.example.com/api/v4/projects/acme%2Fapp/jobs?scope[]=pending&per_page=100&page=${page}`,
        token: 'glpat-secret',
      })),
    );
  });

  it('stops listing after MAX_PENDING_PAGES pages, and refuses a page that is not a list of jobs', async () => {
    const pages = Array.from({ length: MAX_PENDING_PAGES + 5 }, (_, index) =>
      json(200, [listed(index)], { 'x-next-page': String(index + 2) }),
    );
    const endless = scriptedFetch(pages);
    expect(await collect(new GitLabApi(FAST_RETRY, 1_000, endless.fetchFn).pendingJobs('https://g.example', 380, 't'))).toHaveLength(
      MAX_PENDING_PAGES,
    );
    expect(endless.calls).toHaveLength(MAX_PENDING_PAGES);

    const malformed = scriptedFetch([json(200, [{ id: 1, status: 'pending', tag_list: [] }])]);
    await expect(collect(new GitLabApi(FAST_RETRY, 1_000, malformed.fetchFn).pendingJobs('https://g.example', 380, 't'))).rejects.toThrow(
      'GET /api/v4/projects/380/jobs?scope[]=pending&per_page=100&page=1 answered something other than a list of jobs',
    );
    expect(malformed.calls).toHaveLength(1);
  });

  it('refuses an answer without the job fields, without retrying', async () => {
    const { fetchFn, calls } = scriptedFetch([json(200, { id: 7 })]);
    const api = new GitLabApi(FAST_RETRY, 1_000, fetchFn);

    await expect(api.getJob('https://gitlab.example.com', 1, 7, 't')).rejects.toThrow('answered without id, status and tag_list');
    expect(calls).toHaveLength(1);
  });
});

const fleet = fleetSpecSchema.parse({
  name: 'gl-linux',
  ci: 'gitlab',
  labels: ['linux', 'docker'],
  maxRunners: 3,
  gitlab: {
    url: 'https://gitlab.example.com/',
    tokenParameter: '/fleetbot/gitlab/runner-token',
    apiTokenParameter: '/fleetbot/gitlab/api-token',
    webhookSecretParameter: '/fleetbot/gitlab/webhook-secret',
  },
  compute: { type: 'ecs', cluster: 'runners', taskDefinition: 'gl-runner', subnets: ['subnet-1'] },
});

const secrets: SecretReader = {
  read: async (name) =>
    ({ '/fleetbot/gitlab/runner-token': 'glrt-runner', '/fleetbot/gitlab/api-token': 'glpat-api' })[name] ??
    Promise.reject(new Error(`no ${name}`)),
  forget: () => undefined,
};

function gitlabJob(buildId: number): JobRecord {
  return {
    ci: 'gitlab',
    jobId: gitlabJobId('https://gitlab.example.com', buildId),
    fleet: 'gl-linux',
    status: 'waiting',
    labels: ['linux'],
    origin: { instanceUrl: 'https://gitlab.example.com', projectId: 380, buildId, apiTokenParameter: '/fleetbot/gitlab/api-token' },
    runnerName: null,
    launchAttempts: 0,
    receivedAt: 0,
    startedAt: null,
    ...UNTIMED,
    updatedAt: 0,
  };
}

describe('GitLab as a job source', () => {
  it("hands the runner the instance, the fleet's runner token, its name and the fleet's tags", async () => {
    const source = new GitLabSource(new GitLabApi(FAST_RETRY), secrets);
    const runner = { name: 'gl-linux-gitlab.example.com-5-ab12cd' } as RunnerRecord;

    const credential = await source.createRunnerCredential(gitlabJob(5), runner, fleet);

    expect(JSON.parse(credential.value)).toEqual({
      url: 'https://gitlab.example.com',
      token: 'glrt-runner',
      name: 'gl-linux-gitlab.example.com-5-ab12cd',
      tags: ['linux', 'docker'],
    });
  });

  it('counts a job as queued only while GitLab says pending; a deleted job is not queued', async () => {
    const { fetchFn, calls } = scriptedFetch([
      json(200, jobResponse(5, 'pending', ['linux'])),
      json(200, jobResponse(5, 'running', ['linux'])),
      json(404, { message: '404 Not found' }),
    ]);
    const source = new GitLabSource(new GitLabApi(FAST_RETRY, 1_000, fetchFn), secrets);

    expect(await source.isJobQueued(gitlabJob(5))).toBe(true);
    expect(await source.isJobQueued(gitlabJob(5))).toBe(false);
    expect(await source.isJobQueued(gitlabJob(5))).toBe(false);
    expect(calls.map((call) => call.token)).toEqual(['glpat-api', 'glpat-api', 'glpat-api']);
  });

  it('lets an unknown status surface, so the job stays in the backlog', async () => {
    const { fetchFn } = scriptedFetch([json(500, {}), json(500, {}), json(500, {})]);
    const source = new GitLabSource(new GitLabApi(FAST_RETRY, 1_000, fetchFn), secrets);

    await expect(source.isJobQueued(gitlabJob(5))).rejects.toMatchObject({ status: 500 });
  });

  it('gives each GitLab instance its own credential lane', () => {
    const source = new GitLabSource(new GitLabApi(FAST_RETRY), secrets);
    const other = { ...gitlabJob(5), origin: { ...gitlabJob(5).origin, instanceUrl: 'https://gitlab.com' } };

    expect(source.credentialLane(gitlabJob(5))).toBe('gitlab:gitlab.example.com');
    expect(source.credentialLane(other)).toBe('gitlab:gitlab.com');
  });
});
