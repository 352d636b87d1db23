import { z } from 'zod';
import type { CiSystem, FleetSpec } from '../fleets/spec.js';
import { withRetry, type RetryPolicy, type RetryVerdict } from '../retry.js';
import type { SecretReader } from '../secrets/types.js';
import type { JobRecord, RunnerRecord } from '../store/types.js';
import type { CiSource, JobConclusion, RunnerCredential } from './types.js';
import { formatZodIssues } from '../zod-issues.js';

export const GITLAB: CiSystem = 'gitlab';

/** Where a GitLab job came from: enough to ask GitLab about it later. */
export const gitlabOriginSchema = z.object({
  instanceUrl: z.string(),
  projectId: z.number().int(),
  buildId: z.number().int(),
  /** The parameter holding the API token that may read the project's jobs. */
  apiTokenParameter: z.string(),
});
export type GitLabOrigin = z.infer<typeof gitlabOriginSchema>;

/**
 * Build ids are unique within one GitLab instance only, so the instance's host is part of the job id.
 * The id ends up in runner names and so in SSM parameter names, which refuse ":": a port is kept as `_port`.
 */
export function gitlabJobId(instanceUrl: string, buildId: number): string {
  return `${new URL(instanceUrl).host.replace(':', '_')}-${buildId}`;
}

// The fields of GitLab's Job Hook payload fleetbot reads; GitLab sends many more.
const jobHookSchema = z.object({
  object_kind: z.literal('build'),
  build_id: z.number().int().positive(),
  build_status: z.string().min(1),
  project_id: z.number().int().positive(),
  runner: z.object({ description: z.string().nullish() }).nullish(),
  project: z.object({ web_url: z.string() }).partial().optional(),
  // GitLab 17 sends ISO 8601 copies (`_iso`) of its times; older ones only "2026-02-23 02:41:37 UTC".
  build_started_at: z.string().nullish(),
  build_started_at_iso: z.string().nullish(),
  build_created_at: z.string().nullish(),
  build_created_at_iso: z.string().nullish(),
  /** Seconds the job waited for a runner. */
  build_queued_duration: z.number().nonnegative().nullish(),
});

// Statuses after which the job needs no runner any more.
const FINISHED_STATUSES = new Set(['success', 'failed', 'canceled', 'skipped']);

// How each finished status ended, as fleetbot counts it (success and skipped ended well).
const CONCLUSIONS: Record<string, JobConclusion> = { failed: 'failure', canceled: 'cancelled' };

/** Whether a job in this status needs no runner any more. */
export function isFinishedStatus(status: string): boolean {
  return FINISHED_STATUSES.has(status);
}

export type ParsedJobHook =
  | { kind: 'pending'; buildId: number; projectId: number; projectUrl?: string }
  | { kind: 'running'; buildId: number; projectUrl?: string; runnerDescription?: string; startedAt?: number; queuedAt?: number }
  | { kind: 'finished'; buildId: number; projectId: number; projectUrl?: string; runnerDescription?: string; conclusion: JobConclusion }
  | { kind: 'ignored'; reason: string }
  | { kind: 'malformed'; reason: string };

/** A Job Hook payload as what the scheduler needs to hear; statuses other than pending, running and finished are ignored. */
export function parseJobHook(payload: unknown): ParsedJobHook {
  const result = jobHookSchema.safeParse(payload);
  if (!result.success) {
    const problems = formatZodIssues(result.error, { whole: '(payload)' });
    return { kind: 'malformed', reason: `malformed Job Hook payload: ${problems.join('; ')}` };
  }
  const { build_id: buildId, build_status: status, project_id: projectId, runner, project } = result.data;
  const projectUrl = project?.web_url;
  if (status === 'pending') return { kind: 'pending', buildId, projectId, projectUrl };
  if (status === 'running')
    return { kind: 'running', buildId, projectUrl, runnerDescription: runner?.description || undefined, ...startTimes(result.data) };
  if (FINISHED_STATUSES.has(status)) {
    const conclusion = CONCLUSIONS[status] ?? 'success';
    return { kind: 'finished', buildId, projectId, projectUrl, runnerDescription: runner?.description || undefined, conclusion };
  }
  return { kind: 'ignored', reason: `build_status "${status}" needs nothing` };
}

/** When the job started, and when it began to wait: its start less the time GitLab says it was queued, else its creation. */
function startTimes(hook: z.infer<typeof jobHookSchema>): { startedAt?: number; queuedAt?: number } {
  const startedAt = epochMs(hook.build_started_at_iso ?? hook.build_started_at);
  const queuedFor = hook.build_queued_duration ?? undefined;
  const queuedAt =
    startedAt !== undefined && queuedFor !== undefined
      ? startedAt - Math.round(queuedFor * 1000)
      : epochMs(hook.build_created_at_iso ?? hook.build_created_at);
  return { startedAt, queuedAt };
}

/** GitLab's times, ISO 8601 or "2026-02-23 02:41:37 UTC", as epoch milliseconds; undefined when absent or unreadable. */
function epochMs(time: string | null | undefined): number | undefined {
  const ms = time ? Date.parse(time.replace(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC$/, '$1T$2Z')) : NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/** A failed GitLab API call, with whether asking again could help. Never carries the token. */
export class GitLabApiError extends Error {
  override name = 'GitLabApiError';

  constructor(
    message: string,
    readonly verdict: RetryVerdict,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * GitLab errors worth another try: 5xx, 429 (waiting as long as Retry-After says) and network
 * failures. Other 4xx (a wrong token, a deleted project) will not get better by asking again.
 */
export function classifyGitLabError(error: unknown): RetryVerdict {
  if (error instanceof GitLabApiError) return error.verdict;
  return { retry: true };
}

function verdictFor(status: number, retryAfter: string | null): RetryVerdict {
  if (status < 500 && status !== 429) return { retry: false };
  const seconds = Number(retryAfter);
  return { retry: true, afterMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined };
}

const jobResponseSchema = z.object({
  id: z.number().int(),
  status: z.string(),
  tag_list: z.array(z.string()),
  created_at: z.string().nullish(),
});
export type GitLabJob = z.infer<typeof jobResponseSchema>;

/** When GitLab queued the job (its creation), where its API says: the start of the job's wait. */
export function gitlabQueuedAt(job: GitLabJob): number | undefined {
  return epochMs(job.created_at);
}

// A listed job also says its project's id, which a project swept by its path needs for the job's origin.
const listedJobSchema = jobResponseSchema.extend({ pipeline: z.object({ project_id: z.number().int() }) });
export type GitLabListedJob = z.infer<typeof listedJobSchema>;

/** A project as GitLab's API takes it: its id, or its full path (`group/project`). */
export type GitLabProjectRef = number | string;

// 100 is the most GitLab serves per page. A project with more pending jobs than the pages read is
// swept again next pass, by which time runners have taken the oldest.
const JOBS_PER_PAGE = 100;
export const MAX_PENDING_PAGES = 20;

/** The page after this one: GitLab's `x-next-page` (empty on the last page), else the `page` of the `Link` header's rel="next". */
function nextPage(headers: Headers): number | undefined {
  const next = headers.get('x-next-page') ?? /<([^>]+)>;\s*rel="next"/.exec(headers.get('link') ?? '')?.[1];
  if (!next) return undefined;
  // Only the link's page is read, so a relative link is resolved against a host nothing is sent to.
  const page = Number(/^\d+$/.test(next) ? next : URL.parse(next, 'http://gitlab.invalid')?.searchParams.get('page'));
  return Number.isInteger(page) && page > 0 ? page : undefined;
}

/**
 * The GitLab REST calls fleetbot makes: GET a project's job, and list a project's pending jobs. A job is
 * read while GitLab waits for the webhook's answer (10 s by default), so each try is short and the
 * retry policy should fit in that wait; a listing is read by the sweep, which nobody waits for.
 */
export class GitLabApi {
  constructor(
    private readonly retry: RetryPolicy,
    private readonly timeoutMs = 2_000,
    private readonly fetchFn: typeof fetch = fetch,
    private readonly listTimeoutMs = 10_000,
  ) {}

  async getJob(instanceUrl: string, projectId: number, buildId: number, apiToken: string): Promise<GitLabJob> {
    const path = `/api/v4/projects/${projectId}/jobs/${buildId}`;
    const { body } = await this.get(instanceUrl, path, apiToken, this.timeoutMs);
    const parsed = jobResponseSchema.safeParse(body);
    if (!parsed.success) throw new GitLabApiError(`GET ${path} answered without id, status and tag_list`, { retry: false });
    return parsed.data;
  }

  /**
   * The project's pending jobs, a page at a time (`GET /projects/:id/jobs?scope[]=pending`), up to
   * `MAX_PENDING_PAGES` pages. Only the page numbers of GitLab's headers are followed, never a URL they
   * name, so the token goes to the instance and nowhere else.
   */
  async *pendingJobs(instanceUrl: string, project: GitLabProjectRef, apiToken: string): AsyncIterable<GitLabListedJob[]> {
    const base = `/api/v4/projects/${encodeURIComponent(project)}/jobs?scope[]=pending&per_page=${JOBS_PER_PAGE}`;
    let page: number | undefined = 1;
    for (let read = 0; page !== undefined && read < MAX_PENDING_PAGES; read++) {
      const path = `${base}&page=${page}`;
      const { body, headers } = await this.get(instanceUrl, path, apiToken, this.listTimeoutMs);
      const parsed = z.array(listedJobSchema).safeParse(body);
      if (!parsed.success) throw new GitLabApiError(`GET ${path} answered something other than a list of jobs`, { retry: false });
      yield parsed.data;
      page = nextPage(headers);
    }
  }

  /** A GET with the token, retried as `classifyGitLabError` says; the body is parsed JSON (undefined if it is not). */
  private get(instanceUrl: string, path: string, apiToken: string, timeoutMs: number): Promise<{ body: unknown; headers: Headers }> {
    return withRetry(
      async () => {
        const response = await this.fetchFn(`${instanceUrl}${path}`, {
          headers: { 'PRIVATE-TOKEN': apiToken, accept: 'application/json' },
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!response.ok) {
          await response.body?.cancel();
          throw new GitLabApiError(
            `GET ${path} answered ${response.status}`,
            verdictFor(response.status, response.headers.get('retry-after')),
            response.status,
          );
        }
        return { body: await response.json().catch(() => undefined), headers: response.headers };
      },
      this.retry,
      classifyGitLabError,
    );
  }
}

/** GitLab CI as a job source: each fleet's runners authenticate with the fleet's runner token. */
export class GitLabSource implements CiSource {
  readonly ci = GITLAB;

  constructor(
    private readonly api: GitLabApi,
    private readonly secrets: SecretReader,
  ) {}

  static origin(job: JobRecord): GitLabOrigin {
    return gitlabOriginSchema.parse(job.origin);
  }

  /**
   * What `gitlab-runner run-single` needs: the instance, the fleet's runner authentication token, and
   * the fleetbot runner name as the runner's description (completions name the runner by it).
   */
  async createRunnerCredential(_job: JobRecord, runner: RunnerRecord, fleet: FleetSpec): Promise<RunnerCredential> {
    if (!fleet.gitlab) throw new Error(`fleet ${fleet.name} has no gitlab section`);
    const token = await this.secrets.read(fleet.gitlab.tokenParameter);
    return { value: JSON.stringify({ url: fleet.gitlab.url, token, name: runner.name, tags: fleet.labels }) };
  }

  async isJobQueued(job: JobRecord): Promise<boolean> {
    const origin = GitLabSource.origin(job);
    try {
      const current = await this.fetchJob(origin);
      return current.status === 'pending';
    } catch (error) {
      if (error instanceof GitLabApiError && error.status === 404) return false;
      throw error;
    }
  }

  /** Runner tokens come from SSM, not GitLab; one lane per instance keeps instances independent. */
  credentialLane(job: JobRecord): string {
    return `${GITLAB}:${new URL(GitLabSource.origin(job).instanceUrl).host}`;
  }

  /** The job as GitLab's API reports it: its tags are trusted from here, never from a webhook payload. */
  async fetchJob(origin: GitLabOrigin): Promise<GitLabJob> {
    const token = await this.secrets.read(origin.apiTokenParameter);
    return this.api.getJob(origin.instanceUrl, origin.projectId, origin.buildId, token);
  }

  /** The project's pending jobs, a page at a time, read with the token in `apiTokenParameter`. */
  async *pendingJobs(instanceUrl: string, project: GitLabProjectRef, apiTokenParameter: string): AsyncIterable<GitLabListedJob[]> {
    const token = await this.secrets.read(apiTokenParameter);
    yield* this.api.pendingJobs(instanceUrl, project, token);
  }

  /** Reads the token again next time: GitLab refused it, and it may have been replaced since it was cached. */
  forgetToken(apiTokenParameter: string): void {
    this.secrets.forget(apiTokenParameter);
  }

  /** A webhook secret, to check an `X-Gitlab-Token` against. */
  webhookSecret(parameterName: string): Promise<string> {
    return this.secrets.read(parameterName);
  }
}
