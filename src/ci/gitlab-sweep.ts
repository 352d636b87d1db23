import type { Logger } from 'probot';
import type { FleetRegistry } from '../fleets/registry.js';
import { errorFields } from '../errors.js';
import type { TaskLease } from '../lease-keeper.js';
import { PeriodicTask } from '../periodic-task.js';
import type { Admission, Store } from '../store/types.js';
import {
  GITLAB,
  GitLabApiError,
  gitlabJobId,
  gitlabQueuedAt,
  gitlabOriginSchema,
  type GitLabListedJob,
  type GitLabOrigin,
  type GitLabProjectRef,
  type GitLabSource,
} from './gitlab.js';
import type { JobSink } from './types.js';

/**
 * GitLab keeps no log of its webhook deliveries that fleetbot could read back, so a Job Hook lost on the
 * way (the app down or restarting, a proxy's 502, a webhook GitLab disabled) would leave its job pending
 * with no runner. The sweep lists the pending jobs of every project jobs came from and of the fleets'
 * `gitlab.projects`, and admits the ones fleetbot has not recorded, as their webhook would have.
 */

/**
 * A project stays swept for a week after its latest job: long enough to bridge a weekend or a few quiet
 * days, so that a project whose webhook broke while it was idle is still swept when its next job comes.
 * Jobs the sweep admits count too, so a project whose webhook stays broken stays swept. A project
 * quieter than that belongs in its fleet's `gitlab.projects`.
 */
export const SEEN_PROJECT_WINDOW_MS = 7 * 24 * 3600_000;
// A job recorded while the previous pass read the store may carry a time just before that read.
const READ_OVERLAP_MS = 60_000;
// Enough to sweep hundreds of projects within a minute without a burst against GitLab's rate limits.
const PROJECTS_AT_ONCE = 4;

/** A project to sweep, and how to ask its instance about it. */
export interface SweptProject {
  instanceUrl: string;
  project: GitLabProjectRef;
  apiTokenParameter: string;
}

export interface SweepPass {
  projects: number;
  /** Pending jobs listed. */
  pending: number;
  /** Jobs this pass recorded (no webhook had brought them), with what admitting them did. */
  recovered: { jobId: string; admission: Admission['kind'] }[];
  /** Pending jobs whose tags no GitLab fleet serves: not fleetbot's, and not recorded. */
  notOurs: number;
  /** Projects GitLab would not list; they are swept again next pass. */
  failed: number;
}

export interface GitLabSweepDeps {
  source: Pick<GitLabSource, 'pendingJobs' | 'forgetToken'>;
  fleets: FleetRegistry;
  store: Pick<Store, 'getJob' | 'jobOrigins'>;
  sink: JobSink;
  log: Logger;
  now?: () => number;
}

const projectKey = (instanceUrl: string, project: GitLabProjectRef) => `${instanceUrl} ${project}`;
const connectionKey = (instanceUrl: string, apiTokenParameter: string) => `${instanceUrl} ${apiTokenParameter}`;

/** One sweep of GitLab's pending jobs per `pass()`; the wiring runs it on a `PeriodicTask` (`gitlabSweepTask`). */
export class GitLabSweep {
  /** Projects jobs came from, by instance and project id, with when their latest job was received. */
  private readonly seen = new Map<string, { project: SweptProject; latestJobAt: number }>();
  /** Where the next read of the store's job origins starts; undefined: the whole window. */
  private readFrom: number | undefined;
  /** Projects GitLab refused to list (401, 403, 404): reported once, until it lists them again. */
  private readonly refused = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly deps: GitLabSweepDeps) {
    this.now = deps.now ?? Date.now;
  }

  async pass(): Promise<SweepPass> {
    const projects = await this.projects(this.now());
    const pass: SweepPass = { projects: projects.length, pending: 0, recovered: [], notOurs: 0, failed: 0 };
    // Projects are independent: one failing never holds up the others.
    await forEachAtMost(projects, PROJECTS_AT_ONCE, (project) => this.sweepProject(project, pass));
    if (pass.recovered.length > 0) {
      const byAdmission: Record<string, number> = {};
      for (const { admission } of pass.recovered) byAdmission[admission] = (byAdmission[admission] ?? 0) + 1;
      const { projects: swept, pending, notOurs, failed } = pass;
      this.deps.log.info(
        { gitlabSweep: { projects: swept, pending, recovered: pass.recovered.length, byAdmission, notOurs, failed } },
        `GitLab sweep admitted ${pass.recovered.length} pending job(s) fleetbot had not recorded: ` +
          pass.recovered.map(({ jobId }) => jobId).join(', '),
      );
    }
    return pass;
  }

  /**
   * The fleets' listed projects, then those jobs came from within the window, each once per instance, with
   * a token a fleet of that instance still names. Only the first pass reads the whole window from the
   * store; later ones read what came since the one before, because every GitLab job is an origin of its
   * own (its build id is part of it) and a week of them is not worth reading every minute.
   */
  private async projects(now: number): Promise<SweptProject[]> {
    const since = this.readFrom ?? now - SEEN_PROJECT_WINDOW_MS;
    for (const job of await this.deps.store.jobOrigins(since)) {
      const origin = job.ci === GITLAB ? gitlabOriginSchema.safeParse(job.origin) : undefined;
      if (!origin?.success) continue;
      const { instanceUrl, projectId, apiTokenParameter } = origin.data;
      const key = projectKey(instanceUrl, projectId);
      const latestJobAt = Math.max(job.receivedAt, this.seen.get(key)?.latestJobAt ?? 0);
      this.seen.set(key, { project: { instanceUrl, project: projectId, apiTokenParameter }, latestJobAt });
    }
    this.readFrom = now - READ_OVERLAP_MS;
    const swept = new Map<string, SweptProject>();
    const connections = new Set<string>();
    for (const fleet of this.deps.fleets.all()) {
      if (!fleet.gitlab) continue;
      const { url: instanceUrl, apiTokenParameter, projects } = fleet.gitlab;
      connections.add(connectionKey(instanceUrl, apiTokenParameter));
      for (const project of projects) {
        const key = projectKey(instanceUrl, project);
        if (!swept.has(key)) swept.set(key, { instanceUrl, project, apiTokenParameter });
      }
    }
    for (const [key, { project, latestJobAt }] of this.seen) {
      if (latestJobAt < now - SEEN_PROJECT_WINDOW_MS) this.seen.delete(key);
      else if (!swept.has(key) && connections.has(connectionKey(project.instanceUrl, project.apiTokenParameter))) swept.set(key, project);
    }
    return [...swept.values()];
  }

  private async sweepProject(swept: SweptProject, pass: SweepPass): Promise<void> {
    const { instanceUrl, project, apiTokenParameter } = swept;
    try {
      for await (const page of this.deps.source.pendingJobs(instanceUrl, project, apiTokenParameter)) {
        for (const job of page) await this.admit(swept, job, pass);
      }
    } catch (error) {
      pass.failed++;
      this.reportFailure(swept, error);
      return;
    }
    if (this.refused.delete(projectKey(instanceUrl, project))) {
      this.deps.log.info({ ci: GITLAB, instanceUrl, project }, "GitLab lists the project's pending jobs again");
    }
  }

  /** Records a pending job as its Job Hook would have: same id, labels and origin, through the same sink. */
  private async admit(swept: SweptProject, job: GitLabListedJob, pass: SweepPass): Promise<void> {
    const { fleets, store, sink } = this.deps;
    pass.pending++;
    // A job no fleet serves is another runner's: recording it as unmatched every pass would only be noise.
    if (!fleets.match(GITLAB, job.tag_list)) {
      pass.notOurs++;
      return;
    }
    const jobId = gitlabJobId(swept.instanceUrl, job.id);
    if (await store.getJob(GITLAB, jobId)) return;
    const origin: GitLabOrigin = {
      instanceUrl: swept.instanceUrl,
      projectId: job.pipeline.project_id,
      buildId: job.id,
      apiTokenParameter: swept.apiTokenParameter,
    };
    const admission = await sink.jobQueued({ ci: GITLAB, jobId, labels: job.tag_list, origin, queuedAt: gitlabQueuedAt(job) });
    // A duplicate is a Job Hook that came while this pass was reading: the job is in hand either way.
    if (admission.kind !== 'duplicate') pass.recovered.push({ jobId, admission: admission.kind });
  }

  /** A refusal (token, permission, no such project) is an error reported once; anything else a warning each pass. */
  private reportFailure({ instanceUrl, project, apiTokenParameter }: SweptProject, error: unknown): void {
    const fields = { ci: GITLAB, instanceUrl, project, err: errorFields(error) };
    const status = error instanceof GitLabApiError ? error.status : undefined;
    if (status !== 401 && status !== 403 && status !== 404) {
      this.deps.log.warn(fields, "could not list the project's pending jobs; sweeping it again next pass");
      return;
    }
    // Read the token again next pass: it may have been replaced since it was cached.
    this.deps.source.forgetToken(apiTokenParameter);
    const key = projectKey(instanceUrl, project);
    if (this.refused.has(key)) return;
    this.refused.add(key);
    this.deps.log.error(
      fields,
      `GitLab refused to list the project's pending jobs (HTTP ${status}): its jobs whose webhook is lost get no runner; ` +
        `give the token in ${apiTokenParameter} read_api on the project, or correct the project`,
    );
  }
}

/** Runs `work` on each item, at most `limit` at a time. */
async function forEachAtMost<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The sweep at start and then at an interval, never two passes at once, and with `lease` on one replica at a time. */
export function gitlabSweepTask(sweep: GitLabSweep, log: Logger, lease?: TaskLease): PeriodicTask<SweepPass> {
  return new PeriodicTask(
    () => sweep.pass(),
    (error) => log.warn({ err: errorFields(error) }, 'GitLab sweep for pending jobs failed; trying again next period'),
    lease,
  );
}
