import { parseWorkflowJob } from '../../../src/ci/github.js';
import { classifyGitHubError } from '../../../src/github-client.js';
import { completedJob, queuedJob, startedJob } from '../../helpers/payloads.js';

describe('reading workflow_job payloads', () => {
  it('turns a queued job of an organisation repository into a job with an organisation origin', () => {
    const payload = queuedJob({ jobId: 77, labels: ['self-hosted', 'gpu'], org: 'acme', installationId: 9 });
    const parsed = parseWorkflowJob(payload);
    expect(parsed).toEqual({
      kind: 'event',
      event: {
        kind: 'queued',
        job: {
          ci: 'github',
          jobId: '77',
          labels: ['self-hosted', 'gpu'],
          origin: {
            installationId: 9,
            owner: payload.repository.owner.login,
            repo: payload.repository.name,
            org: 'acme',
            ownerUrl: payload.repository.owner.html_url,
            repoUrl: payload.repository.html_url,
          },
          queuedAt: Date.parse(payload.workflow_job.created_at!),
        },
      },
    });
  });

  it('leaves the organisation out for a user-owned repository', () => {
    const parsed = parseWorkflowJob(queuedJob({ jobId: 1 }));
    expect(parsed.kind === 'event' && parsed.event.kind === 'queued' && parsed.event.job.origin.org).toBeUndefined();
  });

  it('reads the runner that ran a completed job and where the job ran, and no runner for a job cancelled before it ran', () => {
    expect(parseWorkflowJob(completedJob({ jobId: 5, runnerName: 'linux-5-abc123', org: 'acme' }))).toEqual({
      kind: 'event',
      event: {
        kind: 'completed',
        ci: 'github',
        jobId: '5',
        runnerName: 'linux-5-abc123',
        origin: expect.objectContaining({ installationId: 4242, org: 'acme' }),
        conclusion: 'failure',
      },
    });
    const cancelled = parseWorkflowJob(completedJob({ jobId: 5, runnerName: null }));
    expect(cancelled.kind === 'event' && cancelled.event.kind === 'completed' && cancelled.event.runnerName).toBeUndefined();
  });

  it.each([
    ['success', 'success'],
    ['skipped', 'success'],
    ['neutral', 'success'],
    ['cancelled', 'cancelled'],
    ['failure', 'failure'],
    ['timed_out', 'failure'],
    ['startup_failure', 'failure'],
  ])("reads a completed job's conclusion %s as %s", (conclusion, expected) => {
    const parsed = parseWorkflowJob(completedJob({ jobId: 5, runnerName: 'linux-5-abc123', conclusion }));
    expect(parsed.kind === 'event' && parsed.event.kind === 'completed' && parsed.event.conclusion).toBe(expected);
  });

  it('reads when a runner took the job, and since when it was queued', () => {
    const payload = startedJob({
      jobId: 6,
      runnerName: 'linux-6-abc123',
      createdAt: '2026-12-05T00:00:00Z',
      startedAt: '2026-12-05T00:00:42Z',
    });
    expect(parseWorkflowJob(payload)).toEqual({
      kind: 'event',
      event: {
        kind: 'started',
        ci: 'github',
        jobId: '6',
        runnerName: 'linux-6-abc123',
        queuedAt: Date.parse('2026-12-05T00:00:00Z'),
        startedAt: Date.parse('2026-12-05T00:00:42Z'),
      },
    });
  });

  it('leaves the queued time out of a start whose payload lacks created_at', () => {
    const parsed = parseWorkflowJob(startedJob({ jobId: 6, runnerName: 'r', createdAt: null, startedAt: '2026-12-05T00:00:42Z' }));
    expect(parsed.kind === 'event' && parsed.event.kind === 'started' && parsed.event.queuedAt).toBeUndefined();
  });

  it('ignores actions that need nothing', () => {
    const waiting = { ...queuedJob({ jobId: 3 }), action: 'waiting' };
    expect(parseWorkflowJob(waiting)).toEqual({ kind: 'ignored', reason: 'action "waiting" needs nothing' });
  });

  it('reports what is wrong with a malformed payload instead of throwing', () => {
    const payload = queuedJob({ jobId: 3 });
    delete payload.installation;
    payload.workflow_job.labels = 'self-hosted';
    const parsed = parseWorkflowJob(payload);
    expect(parsed.kind).toBe('malformed');
    expect(parsed.kind === 'malformed' && parsed.reason).toMatch(/workflow_job\.labels: .*installation: /);
    expect(parseWorkflowJob(null).kind).toBe('malformed');
    expect(parseWorkflowJob('{"action":').kind).toBe('malformed');
  });
});

describe('which GitHub errors are retried', () => {
  const httpError = (status: number, headers: Record<string, string> = {}) =>
    Object.assign(new Error(`HTTP ${status}`), { status, response: { headers } });

  it('retries server errors and network failures', () => {
    expect(classifyGitHubError(httpError(502))).toEqual({ retry: true });
    expect(classifyGitHubError(new TypeError('fetch failed'))).toEqual({ retry: true });
  });

  it('waits as long as GitHub asks on rate limits', () => {
    expect(classifyGitHubError(httpError(429, { 'retry-after': '3' }))).toEqual({ retry: true, afterMs: 3000 });
    expect(classifyGitHubError(httpError(403, { 'retry-after': '60' }))).toEqual({ retry: true, afterMs: 60000 });
    const reset = String(Math.floor(Date.now() / 1000) + 30);
    const verdict = classifyGitHubError(httpError(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }));
    expect(verdict.retry && verdict.afterMs).toBeGreaterThan(25_000);
  });

  it('does not retry client errors that asking again will not fix', () => {
    for (const status of [400, 401, 403, 404, 422]) expect(classifyGitHubError(httpError(status))).toEqual({ retry: false });
  });
});
