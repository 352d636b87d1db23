import type { ApplicationFunction, ApplicationFunctionOptions, Logger, Probot } from 'probot';
import { GitHubSource, parseWorkflowJob } from './ci/github.js';
import { GitLabSource } from './ci/gitlab.js';
import { GitLabWebhooks, gitlabWebhookHandler } from './ci/gitlab-webhook.js';
import { CiRouter } from './ci/router.js';
import type { CiSource, JobPoller } from './ci/types.js';
import type { ComputeBackend } from './compute/types.js';
import type { FleetRegistry } from './fleets/registry.js';
import type { IssueForm } from './issueops/form.js';
import { IssueOpsGitHub } from './issueops/github.js';
import { IssueOps, type SynthesizeFleet } from './issueops/service.js';
import type { IssueOpsSettings } from './issueops/settings.js';
import type { FleetWorkspace } from './issueops/workspace.js';
import { Reconciler } from './jobs/reconciler.js';
import { Scheduler } from './jobs/scheduler.js';
import type { CredentialStore, RunnerParameterStore } from './secrets/types.js';
import type { RetryPolicy } from './retry.js';
import type { IssueOpsStore, Store } from './store/types.js';
import { refuseMisSignedDeliveries } from './webhook-signatures.js';

export interface FleetbotOptions {
  store: Store;
  fleets: FleetRegistry;
  compute: ComputeBackend;
  credentials: CredentialStore;
  /** Job sources besides GitHub's, which is built here from the App's credentials. A GitLab source gets its webhook route. */
  ciSources?: CiSource[];
  /** Job sources that poll instead of receiving webhooks (CircleCI); built once the scheduler exists. */
  jobPollers?: (deps: { scheduler: Scheduler; log: Logger }) => JobPoller[];
  /** Poll at start and then at this interval; undefined polls only when asked (tests). */
  pollIntervalMs?: number;
  /** The waits between later reads of a pending GitLab job whose tags GitLab's API would not give on arrival. */
  gitlabLateReadDelaysMs?: readonly number[];
  /** Runner parameters for the reconciler's sweep of old ones; without it there is no sweep. */
  runnerParameters?: RunnerParameterStore;
  /** Retries of GitHub calls (5xx, rate limits); Octokit's own retry plugin is off so it is not doubled. */
  githubRetry: RetryPolicy;
  launchTimeoutMs: number;
  /** How long a task or instance nobody owns may run before the reconciler stops it. */
  orphanGraceMs?: number;
  /** The least time between two sweeps of the runners registered with the CI systems. */
  runnerSweepIntervalMs?: number;
  /** The clock; tests move it instead of waiting. */
  now?: () => number;
  /** Reconcile at start and then at this interval; undefined runs passes only when asked (tests). */
  reconcileIntervalMs?: number;
  /** Fleets by IssueOps, when the fleets file has an `issueops` section. */
  issueOps?: {
    settings: IssueOpsSettings;
    store: IssueOpsStore;
    workspace: FleetWorkspace;
    forms: { request: IssueForm; delete: IssueForm };
    /** cdktf/synth.ts's synthesizeFleet, loaded by the caller only when IssueOps is configured. */
    synthesize: SynthesizeFleet;
    /** The app's secret values, redacted from failure comments (config.ts's `secretValues`). */
    secrets: readonly string[];
  };
}

export interface Fleetbot {
  app: ApplicationFunction;
  /** Available once `app` has been loaded into a Probot. */
  readonly scheduler: Scheduler;
  readonly reconciler: Reconciler;
  /** Present when IssueOps is configured. */
  readonly issueOps: IssueOps | undefined;
  readonly pollers: readonly JobPoller[];
  /** Waits for launches, credentials and IssueOps work still under way. */
  idle(): Promise<void>;
  /** Stops the pollers and the reconciler and waits for work under way. */
  stop(): Promise<void>;
}

interface Wired {
  scheduler: Scheduler;
  reconciler: Reconciler;
  issueOps: IssueOps | undefined;
  pollers: JobPoller[];
  gitlabWebhooks: GitLabWebhooks | undefined;
}

/** The Probot app: wires webhook handlers to the scheduler, and starts the reconciler. Nothing else. */
export function createFleetbot(options: FleetbotOptions): Fleetbot {
  let wired: Wired | undefined;
  const get = (): Wired => {
    if (!wired) throw new Error('the fleetbot app has not been loaded into Probot yet');
    return wired;
  };

  const app = async (probot: Probot, { addHandler }: ApplicationFunctionOptions) => {
    const log = probot.log.child({ name: 'fleetbot' });
    refuseMisSignedDeliveries(probot, log);
    const github = new GitHubSource((installationId) => probot.auth(installationId), options.githubRetry, {
      appOctokit: () => probot.auth(),
    });
    const ci = new CiRouter([github, ...(options.ciSources ?? [])]);
    const scheduler = new Scheduler({ ...options, ci, log });
    const reconciler = new Reconciler({ ...options, ci, scheduler, log });
    const issueOps = options.issueOps && wireIssueOps(probot, options, options.issueOps, log);
    const pollers = options.jobPollers?.({ scheduler, log }) ?? [];
    const gitlab = options.ciSources?.find((source): source is GitLabSource => source instanceof GitLabSource);
    const gitlabWebhooks =
      gitlab &&
      new GitLabWebhooks({
        source: gitlab,
        fleets: options.fleets,
        store: options.store,
        scheduler,
        log,
        lateReadDelaysMs: options.gitlabLateReadDelaysMs,
      });
    wired = { scheduler, reconciler, issueOps, pollers, gitlabWebhooks };

    probot.on('workflow_job', async (context) => {
      const parsed = parseWorkflowJob(context.payload);
      const fields = { deliveryId: context.id };
      if (parsed.kind === 'malformed') {
        log.warn(fields, `${parsed.reason}; ignored`);
        return;
      }
      if (parsed.kind === 'ignored') {
        log.debug(fields, parsed.reason);
        return;
      }
      const { event } = parsed;
      if (event.kind === 'queued') {
        await scheduler.jobQueued(event.job);
      } else {
        await scheduler.jobCompleted(event.ci, event.jobId, event.runnerName);
      }
    });

    if (gitlabWebhooks) addHandler(gitlabWebhookHandler(gitlabWebhooks, log));

    // Fleets applied earlier serve jobs before the first reconcile pass looks at them.
    await issueOps?.load();
    if (options.reconcileIntervalMs !== undefined) reconciler.start(options.reconcileIntervalMs);
    const { pollIntervalMs } = options;
    if (pollIntervalMs !== undefined) for (const poller of pollers) poller.start(pollIntervalMs);
  };

  return {
    app,
    get scheduler() {
      return get().scheduler;
    },
    get reconciler() {
      return get().reconciler;
    },
    get issueOps() {
      return get().issueOps;
    },
    get pollers() {
      return get().pollers;
    },
    idle: async () => {
      await wired?.issueOps?.idle();
      await wired?.gitlabWebhooks?.idle();
      await wired?.scheduler.idle();
    },
    stop: async () => {
      if (!wired) return;
      // Pollers first: a pass under way may still admit jobs, whose launches are waited for below.
      await Promise.all(wired.pollers.map((poller) => poller.stop()));
      wired.gitlabWebhooks?.stop();
      await wired.reconciler.stop();
      await wired.issueOps?.idle();
      await wired.scheduler.idle();
    },
  };
}

function wireIssueOps(
  probot: Probot,
  options: FleetbotOptions,
  issueOpsOptions: NonNullable<FleetbotOptions['issueOps']>,
  log: Probot['log'],
): IssueOps {
  // Comments are updated in place only when the App wrote them; its login comes from GET /app once.
  let botLogin: Promise<string> | undefined;
  const appBotLogin = (): Promise<string> => {
    botLogin ??= (async () => {
      const octokit = await probot.auth();
      const { data } = await octokit.request('GET /app');
      if (!data?.slug) throw new Error('GET /app returned no slug');
      return `${data.slug}[bot]`;
    })().catch((error: unknown) => {
      botLogin = undefined;
      throw error;
    });
    return botLogin;
  };
  const issueOps = new IssueOps({
    ...issueOpsOptions,
    jobs: options.store,
    fleets: options.fleets,
    log,
    github: async (installationId) =>
      new IssueOpsGitHub(await probot.auth(installationId), issueOpsOptions.settings.repository, await appBotLogin(), options.githubRetry),
  });
  probot.on('issues', (context) => issueOps.onIssue(context.payload));
  probot.on('pull_request', (context) => issueOps.onPullRequest(context.payload));
  probot.on('issue_comment', (context) => issueOps.onComment(context.payload));
  return issueOps;
}
