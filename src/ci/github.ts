import { z } from 'zod';
import type { CiSystem, FleetSpec } from '../fleets/spec.js';
import { classifyGitHubError, type InstallationOctokit } from '../github-client.js';
import { withRetry, type RetryPolicy } from '../retry.js';
import type { JobRecord, RunnerRecord } from '../store/types.js';
import type { CiSource, JobConclusion, JobEvent, RegisteredRunner, RunnerCredential } from './types.js';
import { formatZodIssues } from '../zod-issues.js';

export const GITHUB: CiSystem = 'github';

/** Where a GitHub job came from: enough to register its runner and ask about it later. */
const githubOriginSchema = z.object({
  installationId: z.number().int(),
  owner: z.string(),
  repo: z.string(),
  /** Set for organisation repositories: runners are registered at the organisation. */
  org: z.string().optional(),
  ownerUrl: z.string(),
  repoUrl: z.string(),
});
export type GitHubOrigin = z.infer<typeof githubOriginSchema>;

const workflowJobPayloadSchema = z.object({
  action: z.string(),
  workflow_job: z.object({
    id: z.number().int().positive(),
    labels: z.array(z.string()),
    runner_name: z.string().nullish(),
    created_at: z.string().nullish(),
    started_at: z.string().nullish(),
    conclusion: z.string().nullish(),
  }),
  repository: z.object({
    name: z.string().min(1),
    html_url: z.string(),
    owner: z.object({ login: z.string().min(1), html_url: z.string() }),
  }),
  organization: z.object({ login: z.string().min(1) }).nullish(),
  installation: z.object({ id: z.number().int() }),
});

/** An ISO 8601 time of GitHub's as epoch milliseconds; undefined when absent or unreadable. */
function epochMs(time: string | null | undefined): number | undefined {
  const ms = time ? Date.parse(time) : NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/** GitHub's conclusions as fleetbot counts them; skipped and neutral jobs ended well, timed-out ones failed. */
function conclusionOf(conclusion: string | null | undefined): JobConclusion | undefined {
  if (conclusion === 'success' || conclusion === 'skipped' || conclusion === 'neutral') return 'success';
  if (conclusion === 'cancelled') return 'cancelled';
  return conclusion ? 'failure' : undefined;
}

export type ParsedWorkflowJob =
  { kind: 'event'; event: JobEvent } | { kind: 'ignored'; reason: string } | { kind: 'malformed'; reason: string };

/** A `workflow_job` payload as the scheduler's event; actions other than queued/in_progress/completed are ignored. */
export function parseWorkflowJob(payload: unknown): ParsedWorkflowJob {
  const result = workflowJobPayloadSchema.safeParse(payload);
  if (!result.success) {
    const problems = formatZodIssues(result.error, { whole: '(payload)' });
    return { kind: 'malformed', reason: `malformed workflow_job payload: ${problems.join('; ')}` };
  }
  const { action, workflow_job: job, repository, organization, installation } = result.data;
  const jobId = String(job.id);
  const origin: GitHubOrigin = {
    installationId: installation.id,
    owner: repository.owner.login,
    repo: repository.name,
    org: organization?.login,
    ownerUrl: repository.owner.html_url,
    repoUrl: repository.html_url,
  };
  if (action === 'completed') {
    const conclusion = conclusionOf(job.conclusion);
    return { kind: 'event', event: { kind: 'completed', ci: GITHUB, jobId, runnerName: job.runner_name || undefined, origin, conclusion } };
  }
  if (action === 'in_progress') {
    const started = { ci: GITHUB, jobId, runnerName: job.runner_name || undefined };
    return { kind: 'event', event: { kind: 'started', ...started, startedAt: epochMs(job.started_at), queuedAt: epochMs(job.created_at) } };
  }
  if (action !== 'queued') return { kind: 'ignored', reason: `action "${action}" needs nothing` };
  const queuedAt = epochMs(job.created_at);
  return { kind: 'event', event: { kind: 'queued', job: { ci: GITHUB, jobId, labels: job.labels, origin, queuedAt } } };
}

interface RegistrationToken {
  token: string;
  expiresAt: number;
}

// A registration token lives an hour; hand out only tokens with time left for the runner to boot and
// register with it (the runner waits for its credential for at most ten minutes).
const TOKEN_MIN_REMAINING_MS = 15 * 60 * 1000;

/** GitHub Actions as a job source: JIT configs or registration tokens, issued per installation. */
export class GitHubSource implements CiSource {
  readonly ci = GITHUB;
  private readonly tokens = new Map<string, Promise<RegistrationToken>>();
  private readonly groupNames = new Map<string, Promise<string>>();

  private readonly now: () => number;
  private readonly appOctokit: (() => Promise<InstallationOctokit>) | undefined;

  constructor(
    private readonly octokitFor: (installationId: number) => Promise<InstallationOctokit>,
    private readonly retry: RetryPolicy,
    options: {
      now?: () => number;
      /** The App itself (JWT), to find the installation of a warm pool's owner. */
      appOctokit?: () => Promise<InstallationOctokit>;
    } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.appOctokit = options.appOctokit;
  }

  static origin(job: Pick<JobRecord, 'origin'>): GitHubOrigin {
    return githubOriginSchema.parse(job.origin);
  }

  async createRunnerCredential(job: JobRecord, runner: RunnerRecord, fleet: FleetSpec): Promise<RunnerCredential> {
    const origin = GitHubSource.origin(job);
    const octokit = await this.octokitFor(origin.installationId);
    if (fleet.credentials === 'registration-token') {
      const token = await this.registrationToken(octokit, origin);
      const value = {
        url: origin.org ? origin.ownerUrl : origin.repoUrl,
        token,
        name: runner.name,
        labels: fleet.labels,
        runnerGroup: origin.org ? await this.runnerGroupName(octokit, origin.org, fleet.runnerGroupId) : undefined,
      };
      return { value: JSON.stringify(value) };
    }
    const body = { name: runner.name, runner_group_id: fleet.runnerGroupId, labels: fleet.labels, work_folder: '_work' };
    const response = await this.call(() =>
      origin.org
        ? octokit.request('POST /orgs/{org}/actions/runners/generate-jitconfig', { org: origin.org, ...body })
        : octokit.request('POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig', {
            owner: origin.owner,
            repo: origin.repo,
            ...body,
          }),
    );
    return { value: response.data.encoded_jit_config, ciRunnerId: String(response.data.runner.id) };
  }

  async isJobQueued(job: JobRecord): Promise<boolean> {
    const origin = GitHubSource.origin(job);
    const octokit = await this.octokitFor(origin.installationId);
    try {
      const response = await this.call(() =>
        octokit.request('GET /repos/{owner}/{repo}/actions/jobs/{job_id}', {
          owner: origin.owner,
          repo: origin.repo,
          job_id: Number(job.jobId),
        }),
      );
      return response.data.status === 'queued';
    } catch (error) {
      if ((error as { status?: number }).status === 404) return false;
      throw error;
    }
  }

  /** A warm pool registers at its owner: an organisation, or a repository given as owner/repo. */
  async warmPoolOrigin(fleet: FleetSpec): Promise<GitHubOrigin> {
    const pool = fleet.warmRunners;
    if (!pool) throw new Error(`fleet ${fleet.name} has no warm pool`);
    if (!this.appOctokit) throw new Error("warm pools need the App's own credentials");
    const app = await this.appOctokit();
    const [owner, repo] = pool.owner.split('/');
    const { data } = await this.call(() =>
      repo
        ? app.request('GET /repos/{owner}/{repo}/installation', { owner, repo })
        : app.request('GET /orgs/{org}/installation', { org: owner }),
    );
    const ownerUrl = (data.account as { html_url?: string } | null)?.html_url;
    if (!ownerUrl) throw new Error(`the App's installation on ${pool.owner} names no account`);
    return {
      installationId: data.id,
      owner,
      repo: repo ?? '',
      org: repo ? undefined : owner,
      ownerUrl,
      repoUrl: repo ? `${ownerUrl}/${repo}` : ownerUrl,
    };
  }

  runnerScope(job: Pick<JobRecord, 'origin'>): string {
    const origin = GitHubSource.origin(job);
    return `${origin.installationId}:${origin.org ? `orgs/${origin.org}` : `repos/${origin.owner}/${origin.repo}`}`;
  }

  async listRegisteredRunners(job: JobRecord): Promise<RegisteredRunner[]> {
    const origin = GitHubSource.origin(job);
    const octokit = await this.octokitFor(origin.installationId);
    const runners = await this.call(() =>
      origin.org
        ? octokit.paginate('GET /orgs/{org}/actions/runners', { org: origin.org, per_page: 100 })
        : octokit.paginate('GET /repos/{owner}/{repo}/actions/runners', { owner: origin.owner, repo: origin.repo, per_page: 100 }),
    );
    return runners.map((runner) => ({ id: String(runner.id), name: runner.name, online: runner.status === 'online', busy: runner.busy }));
  }

  async deleteRegisteredRunner(job: JobRecord, runnerId: string): Promise<'deleted' | 'busy'> {
    const origin = GitHubSource.origin(job);
    const octokit = await this.octokitFor(origin.installationId);
    try {
      await this.call(() =>
        origin.org
          ? octokit.request('DELETE /orgs/{org}/actions/runners/{runner_id}', { org: origin.org, runner_id: Number(runnerId) })
          : octokit.request('DELETE /repos/{owner}/{repo}/actions/runners/{runner_id}', {
              owner: origin.owner,
              repo: origin.repo,
              runner_id: Number(runnerId),
            }),
      );
      return 'deleted';
    } catch (error) {
      const status = (error as { status?: number }).status;
      // 422: the runner took a job since it was listed. 404: it is gone already.
      if (status === 422) return 'busy';
      if (status === 404) return 'deleted';
      throw error;
    }
  }

  /** GitHub paces mutating requests per installation. */
  credentialLane(job: JobRecord): string {
    return `${GITHUB}:${GitHubSource.origin(job).installationId}`;
  }

  private call<T>(request: () => Promise<T>): Promise<T> {
    return withRetry(request, this.retry, classifyGitHubError);
  }

  /** One token per scope and installation serves a whole burst; concurrent callers share one request. */
  private async registrationToken(octokit: InstallationOctokit, origin: GitHubOrigin): Promise<string> {
    const key = `${origin.installationId}:${origin.org ?? `${origin.owner}/${origin.repo}`}`;
    const cached = this.tokens.get(key);
    if (cached) {
      const token = await cached.catch(() => undefined);
      if (token && token.expiresAt - this.now() > TOKEN_MIN_REMAINING_MS) return token.token;
      // Another caller replaced the stale token while this one waited: use theirs, do not ask twice.
      if (this.tokens.get(key) !== cached) return this.registrationToken(octokit, origin);
    }
    const request = this.call(() =>
      origin.org
        ? octokit.request('POST /orgs/{org}/actions/runners/registration-token', { org: origin.org })
        : octokit.request('POST /repos/{owner}/{repo}/actions/runners/registration-token', {
            owner: origin.owner,
            repo: origin.repo,
          }),
    ).then((response) => ({ token: response.data.token, expiresAt: Date.parse(response.data.expires_at) }));
    this.tokens.set(key, request);
    request.catch(() => {
      if (this.tokens.get(key) === request) this.tokens.delete(key);
    });
    return (await request).token;
  }

  /** config.sh takes a runner group's name; the fleet names it by id. Group 1 is always "Default". */
  private runnerGroupName(octokit: InstallationOctokit, org: string, groupId: number): Promise<string> {
    if (groupId === 1) return Promise.resolve('Default');
    const key = `${org}/${groupId}`;
    let name = this.groupNames.get(key);
    if (!name) {
      name = this.call(() =>
        octokit.request('GET /orgs/{org}/actions/runner-groups/{runner_group_id}', { org, runner_group_id: groupId }),
      ).then((response) => response.data.name);
      name.catch(() => this.groupNames.delete(key));
      this.groupNames.set(key, name);
    }
    return name;
  }
}
