import { pino } from 'pino';
import { GitLabApi, GitLabSource } from '../../../src/ci/gitlab.js';
import type { GitLabDelivery } from '../../../src/ci/gitlab-door.js';
import { GitLabWebhooks } from '../../../src/ci/gitlab-webhook.js';
import type { Delivery, JobStarted } from '../../../src/ci/types.js';
import type { VerifiedDelivery } from '../../../src/deliveries.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { fleetSpecSchema, type FleetSpec } from '../../../src/fleets/spec.js';
import type { NewJob } from '../../../src/store/types.js';
import { jobHookPayload, jobResponse } from '../../helpers/gitlab-payloads.js';

function gitlabFleet(name: string, url: string, instance: string): FleetSpec {
  return fleetSpecSchema.parse({
    name,
    ci: 'gitlab',
    labels: ['linux'],
    maxRunners: 2,
    gitlab: {
      url,
      tokenParameter: `/gl/${instance}/runner-token`,
      apiTokenParameter: `/gl/${instance}/api-token`,
      webhookSecretParameter: `/gl/${instance}/webhook-secret`,
    },
    compute: { type: 'ecs', cluster: 'runners', taskDefinition: 'gl-runner', subnets: ['subnet-1'] },
  });
}

const SECRETS: Record<string, string> = {
  '/gl/a/webhook-secret': 'secret-a',
  '/gl/a/api-token': 'api-a',
  '/gl/b/webhook-secret': 'secret-b',
  '/gl/b/api-token': 'api-b',
};

// What the fake API says of a job, by build id: pending unless listed.
const API_STATUSES: Record<number, string> = { 13: 'running', 22: 'success', 23: 'canceled', 97: 'running' };

function setUp(options: { unreadable?: string; rememberedDeliveries?: number; sleep?: (ms: number) => Promise<void> } = {}) {
  const requests: Array<{ url: string; token: string | null }> = [];
  // Tests may make a parameter readable again (or unreadable) as they go.
  const unreadable = { name: options.unreadable };
  const fetchFn = (async (url: string, init: RequestInit) => {
    requests.push({ url, token: new Headers(init.headers).get('private-token') });
    const buildId = Number(url.split('/').at(-1));
    if (buildId === 404) return new Response(JSON.stringify({ message: '404 Not found' }), { status: 404 });
    return new Response(JSON.stringify(jobResponse(buildId, API_STATUSES[buildId] ?? 'pending', ['linux'])), { status: 200 });
  }) as unknown as typeof fetch;
  const source = new GitLabSource(new GitLabApi({ attempts: 1, baseDelayMs: 1, maxDelayMs: 1 }, 1_000, fetchFn), {
    read: async (name) => {
      if (name === unreadable.name) throw new Error('AccessDeniedException');
      return SECRETS[name] ?? Promise.reject(new Error(`no ${name}`));
    },
    forget: () => undefined,
  });
  const queued: NewJob[] = [];
  const completed: Array<[string, string, string | undefined]> = [];
  const started: Array<[JobStarted, Delivery | undefined]> = [];
  const webhooks = new GitLabWebhooks({
    source,
    fleets: new FleetRegistry([gitlabFleet('gl-a', 'https://gitlab.a.example', 'a'), gitlabFleet('gl-b', 'https://gitlab.b.example', 'b')]),
    store: { getJob: async () => undefined },
    sink: {
      jobQueued: async (job) => {
        queued.push(job);
        return { kind: 'claimed' } as never;
      },
      jobStarted: async (event, fromDelivery) => {
        started.push([event, fromDelivery]);
      },
      jobCompleted: async ({ ci, jobId, runnerName }) => {
        completed.push([ci, jobId, runnerName]);
      },
    },
    log: pino({ level: 'silent' }),
    rememberedDeliveries: options.rememberedDeliveries,
    lateReadDelaysMs: [1_000, 2_000],
    sleep: options.sleep ?? (async () => undefined),
  });
  return { webhooks, requests, queued, started, completed, unreadable };
}

const delivery = (token: string, payload: unknown, eventUuid?: string): GitLabDelivery => ({
  token,
  eventName: 'Job Hook',
  eventUuid,
  body: JSON.stringify(payload),
});

describe('GitLab Job events', () => {
  it('tells instances apart by their webhook secret, and asks the right instance with its own token', async () => {
    const { webhooks, requests, queued } = setUp();

    const answer = await webhooks.receive(delivery('secret-b', jobHookPayload({ buildId: 21 })));

    expect(answer).toEqual({ status: 200, message: 'job gitlab.b.example-21 claimed' });
    expect(requests).toEqual([{ url: 'https://gitlab.b.example/api/v4/projects/380/jobs/21', token: 'api-b' }]);
    expect(queued).toEqual([
      {
        ci: 'gitlab',
        jobId: 'gitlab.b.example-21',
        labels: ['linux'],
        origin: { instanceUrl: 'https://gitlab.b.example', projectId: 380, buildId: 21, apiTokenParameter: '/gl/b/api-token' },
        // The job's creation, as GitLab's API gives it (test/fixtures/gitlab/job.json): when its wait began.
        queuedAt: Date.parse('2026-02-23T02:41:37.886Z'),
      },
    ]);
  });

  it("completes the job by the runner GitLab names, once GitLab's API confirms the job finished", async () => {
    const { webhooks, requests, completed } = setUp();

    await webhooks.receive(delivery('secret-a', jobHookPayload({ buildId: 22, status: 'success', runnerDescription: 'gl-a-x-22-ab12cd' })));
    await webhooks.receive(delivery('secret-a', jobHookPayload({ buildId: 23, status: 'canceled' })));

    expect(completed).toEqual([
      ['gitlab', 'gitlab.a.example-22', 'gl-a-x-22-ab12cd'],
      ['gitlab', 'gitlab.a.example-23', undefined],
    ]);
    expect(requests.map((request) => request.url)).toEqual([
      'https://gitlab.a.example/api/v4/projects/380/jobs/22',
      'https://gitlab.a.example/api/v4/projects/380/jobs/23',
    ]);
  });

  it("frees nothing for a completion GitLab's API does not confirm (still running, or unknown)", async () => {
    const { webhooks, completed } = setUp();

    const running = await webhooks.receive(
      delivery('secret-a', jobHookPayload({ buildId: 97, status: 'success', runnerDescription: 'linux-7-ab12cd' })),
    );
    const unknown = await webhooks.receive(
      delivery('secret-a', jobHookPayload({ buildId: 404, status: 'success', runnerDescription: 'linux-7-ab12cd' })),
    );

    expect(running).toEqual({ status: 200, message: 'job gitlab.a.example-97 is running at GitLab; completion ignored' });
    expect(unknown).toEqual({ status: 200, message: "job gitlab.a.example-404: GitLab's API did not confirm the completion; ignored" });
    expect(completed).toEqual([]);
  });

  it('reports a running job as started, with its delivery id, without asking the API', async () => {
    const { webhooks, requests, started } = setUp();
    const payload = {
      ...jobHookPayload({ buildId: 24, status: 'running', runnerDescription: 'gl-a-x-24-ab12cd' }),
      build_started_at_iso: '2026-02-23T02:42:07Z',
      build_queued_duration: 30,
    };

    const answer = await webhooks.receive(delivery('secret-a', payload, 'uuid-24'));

    expect(answer).toEqual({ status: 200, message: 'job gitlab.a.example-24 started' });
    const startedAt = Date.parse('2026-02-23T02:42:07Z');
    expect(started).toEqual([
      [
        { ci: 'gitlab', jobId: 'gitlab.a.example-24', runnerName: 'gl-a-x-24-ab12cd', startedAt, queuedAt: startedAt - 30_000 },
        { deliveryId: 'uuid-24' },
      ],
    ]);
    expect(requests).toEqual([]);
  });

  it('launches nothing for a job a runner already took by the time its tags are read', async () => {
    const { webhooks, queued } = setUp();

    expect(await webhooks.receive(delivery('secret-a', jobHookPayload({ buildId: 13 })))).toEqual({
      status: 200,
      message: 'job gitlab.a.example-13 is running at GitLab; nothing to launch',
    });
    expect(queued).toEqual([]);
  });

  it('answers 503 when no secret matched and one could not be read, so the token was not judged', async () => {
    const { webhooks } = setUp({ unreadable: '/gl/b/webhook-secret' });

    expect((await webhooks.receive(delivery('secret-b', jobHookPayload({ buildId: 24 })))).status).toBe(503);
    expect((await webhooks.receive(delivery('secret-a', jobHookPayload({ buildId: 24 })))).status).toBe(200);
  });

  it('remembers a bounded number of deliveries; the oldest are forgotten', async () => {
    const { webhooks, queued } = setUp({ rememberedDeliveries: 2 });
    const payload = jobHookPayload({ buildId: 25 });

    for (const uuid of ['u1', 'u2', 'u3']) await webhooks.receive(delivery('secret-a', payload, uuid));
    const forgotten = await webhooks.receive(delivery('secret-a', payload, 'u1'));
    const remembered = await webhooks.receive(delivery('secret-a', payload, 'u3'));

    expect(forgotten.message).toBe('job gitlab.a.example-25 claimed');
    expect(remembered.message).toBe('delivery already handled');
    // The store stub records nothing, so every forgotten delivery reaches the scheduler, whose dedupe holds.
    expect(queued).toHaveLength(4);
  });

  describe('a pending job GitLab cannot be asked about on arrival', () => {
    it('is answered 202 and queued once a later read succeeds, after the waits it was given', async () => {
      const waits: number[] = [];
      const { webhooks, queued, unreadable } = setUp({
        unreadable: '/gl/a/api-token',
        sleep: async (ms) => {
          waits.push(ms);
          if (waits.length === 2) unreadable.name = undefined;
        },
      });

      const answer = await webhooks.receive(delivery('secret-a', jobHookPayload({ buildId: 31 })));
      expect(answer.status).toBe(202);
      await webhooks.idle();

      expect(waits).toEqual([1_000, 2_000]);
      expect(queued.map((job) => job.jobId)).toEqual(['gitlab.a.example-31']);
    });

    it('is given up at the next turn once the app stops', async () => {
      let stop: () => void = () => undefined;
      const { webhooks, queued, unreadable } = setUp({
        unreadable: '/gl/a/api-token',
        sleep: async () => {
          unreadable.name = undefined;
          stop();
        },
      });
      stop = () => webhooks.stop();

      expect((await webhooks.receive(delivery('secret-a', jobHookPayload({ buildId: 32 })))).status).toBe(202);
      await webhooks.idle();

      expect(queued).toEqual([]);
    });
  });
});

describe('GitLab Job events taken from the queue (replay)', () => {
  const queued = (payload: unknown, matched: string[], id = 'uuid-q'): VerifiedDelivery => ({
    ci: 'gitlab',
    id,
    event: 'Job Hook',
    body: JSON.stringify(payload),
    matched,
  });

  it('queues the job with the connection of the secret the door matched, asking that instance with its own token', async () => {
    const { webhooks, requests, queued: jobs } = setUp();

    await webhooks.replay(queued(jobHookPayload({ buildId: 41 }), ['/gl/b/webhook-secret']));

    expect(requests).toEqual([{ url: 'https://gitlab.b.example/api/v4/projects/380/jobs/41', token: 'api-b' }]);
    expect(jobs.map((job) => job.jobId)).toEqual(['gitlab.b.example-41']);
  });

  it('throws when GitLab cannot be asked now, so that the queue delivers it again, and then queues the job', async () => {
    const { webhooks, queued: jobs, unreadable } = setUp({ unreadable: '/gl/a/api-token' });
    const delivery = queued(jobHookPayload({ buildId: 42 }), ['/gl/a/webhook-secret']);

    await expect(webhooks.replay(delivery)).rejects.toThrow('AccessDeniedException');
    expect(jobs).toEqual([]);
    await webhooks.idle();

    unreadable.name = undefined;
    await webhooks.replay(delivery);
    expect(jobs.map((job) => job.jobId)).toEqual(['gitlab.a.example-42']);
  });

  it('handles a delivery the queue brings twice once', async () => {
    const { webhooks, requests } = setUp();
    const delivery = queued(jobHookPayload({ buildId: 43 }), ['/gl/a/webhook-secret']);

    await webhooks.replay(delivery);
    await webhooks.replay(delivery);

    expect(requests).toHaveLength(1);
  });

  it('ignores a delivery verified with a secret no fleet has any more', async () => {
    const { webhooks, requests, queued: jobs } = setUp();

    await webhooks.replay(queued(jobHookPayload({ buildId: 44 }), ['/gl/removed/webhook-secret']));

    expect(requests).toEqual([]);
    expect(jobs).toEqual([]);
  });
});
