import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ProbotOctokit } from 'probot';
import { createAwsClients, type AwsClients } from './aws.js';
import { CircleCiApi } from './ci/circleci-api.js';
import { connectCircleCi } from './ci/circleci-poller.js';
import { connectGitHub } from './ci/github-webhook.js';
import { GitLabApi } from './ci/gitlab.js';
import { connectGitLab } from './ci/gitlab-webhook.js';
import type { CiConnector } from './ci/types.js';
import { AsgBackend } from './compute/asg.js';
import { Ec2Backend } from './compute/ec2.js';
import { EcsBackend } from './compute/ecs.js';
import { ComputeRouter } from './compute/router.js';
import { appPrivateKey, ConfigError, terraformEnvironment, type AppConfig } from './config.js';
import { FleetRegistry } from './fleets/registry.js';
import { CI_SYSTEMS, type CiSystem } from './fleets/spec.js';
import { loadFleetsFile } from './fleets/file.js';
import { createFleetbot, type Fleetbot, type FleetbotOptions } from './index.js';
import { issueOpsSettingsSchema, type IssueOpsSettings } from './issueops/settings.js';
import { loadSynthesizer } from '../cdktf/load-synthesizer.js';
import { loadIssueForms } from './issueops/templates.js';
import { estimateRunnerCost } from './cost/estimate.js';
import { createMetrics, type FleetbotMetrics } from './metrics/instruments.js';
import { rateLimitPlugin } from './metrics/octokit.js';
import { FleetWorkspace } from './issueops/workspace.js';
import { SqsDeliveryQueue } from './queue/sqs-queue.js';
import { CachedSecretParameters } from './secrets/parameters.js';
import { RunnerSecrets } from './secrets/ssm.js';
import type { SecretReader } from './secrets/types.js';
import { createOperatorView } from './operator/view.js';
import { openStores, type AppStores } from './store/open.js';
import type { DeliveryLog, IssueOpsStore } from './store/types.js';
import { TerraformCli } from './terraform/cli.js';
import { dashboardAccess } from './web/access.js';

/**
 * The app built from its configuration, as `npm start` (main.ts) and the Lambda worker (lambda.ts) both
 * run it: the same store, fleets, compute, CI systems and queue.
 */

const GITHUB_RETRY = { attempts: 4, baseDelayMs: 500, maxDelayMs: 10_000 };

export interface AssembledApp {
  fleetbot: Fleetbot;
  stores: AppStores;
  aws: AwsClients;
  fleets: FleetRegistry;
  /** The fleets file's IssueOps section, when it has one. */
  issueOps: IssueOpsSettings | undefined;
  /** The app's metrics: the Octokit class (fleetbotOctokit) reports GitHub's rate limits into them. */
  metrics: FleetbotMetrics;
}

/**
 * A Lambda function runs only what it is invoked for (`periodicWork: false`), and cannot run Terraform
 * (`terraform: false`): a fleets file with an IssueOps section is then refused.
 */
export async function assembleFleetbot(config: AppConfig, options: { periodicWork: boolean; terraform: boolean }): Promise<AssembledApp> {
  const fleetsFile = await loadFleetsFile(config.fleetsFile, config.fleetsFileRequired, issueOpsSettingsSchema);
  if (fleetsFile.issueops && !options.terraform) {
    throw new ConfigError(
      `${config.fleetsFile} has an issueops section, but IssueOps runs terraform, which does not run here (Lambda): ` +
        'let the ECS service replicas consume the queue instead (FLEETBOT_WORKER), or move IssueOps to a fleets file of theirs',
    );
  }
  const fleets = new FleetRegistry(fleetsFile.fleets);
  const aws = createAwsClients();
  const stores = await openStores(config.store, { dynamodb: aws.dynamodb, retentionMs: config.retentionMs });
  const secrets = new RunnerSecrets(aws.ssm, config.ssmKmsKeyId);
  const metrics = createMetrics();
  // A drain takes effect at once on this replica, and an undrain serves the fleet's backlog here; the
  // scheduler exists once the app is loaded.
  const operatorView = createOperatorView({
    store: stores.jobs,
    issueOps: fleetsFile.issueops && stores.issueOps,
    fleets,
    githubWebUrl: config.github.webUrl,
    runnerCost: (runner, fleet, until) => (fleet ? estimateRunnerCost(runner, fleet, until, config.awsRegion) : null),
    drainChanged: (fleet, drained) => fleetbot.scheduler.fleetDrainChanged(fleet, drained),
  });
  const fleetbot: Fleetbot = createFleetbot({
    metrics,
    metricsToken: config.metricsToken,
    pricingRegion: config.awsRegion,
    deliveries: stores.deliveries,
    store: stores.jobs,
    fleets,
    compute: computeRouter(aws),
    credentials: secrets,
    runnerParameters: secrets,
    // The CI systems' own tokens (API, runner, webhook secrets), shared by their sources.
    ciSystems: ciSystems(config, fleets, new CachedSecretParameters(aws.ssm), stores.deliveries, metrics),
    githubRetry: GITHUB_RETRY,
    launchTimeoutMs: config.launchTimeoutMs,
    orphanGraceMs: config.orphanGraceMs,
    runnerSweepIntervalMs: config.runnerSweepIntervalMs,
    reconcileIntervalMs: config.reconcileIntervalMs,
    retention: stores.retention && { store: stores.retention, retentionMs: config.retentionMs },
    leases: { store: stores.lease, holder: replicaName(), ttlMs: config.leaseMs, passes: stores.jobs },
    queue: config.queue && new SqsDeliveryQueue(aws.sqs, config.queue.url),
    periodicWork: options.periodicWork,
    operatorView,
    dashboard: dashboardAccess(config, fleetsFile.dashboard?.allow ?? [], appPrivateKey()),
    issueOps: fleetsFile.issueops && (await issueOpsOptions(fleetsFile.issueops, stores.issueOps, config.secretValues)),
  });
  return { fleetbot, stores, aws, fleets, issueOps: fleetsFile.issueops, metrics };
}

/**
 * Retries are fleetbot's own (src/retry.ts); throttling stays on so writes keep GitHub's pace. With the
 * app's metrics, each response's rate-limit headers set `fleetbot_github_rate_limit_remaining`.
 */
export function fleetbotOctokit(metrics?: FleetbotMetrics): typeof ProbotOctokit {
  const Octokit = metrics ? ProbotOctokit.plugin(rateLimitPlugin(metrics)) : ProbotOctokit;
  return Octokit.defaults((options: Record<string, unknown>) => ({ ...options, retry: { enabled: false } }));
}

/** This process among the replicas sharing the store: its host and pid (for people reading the store), and a random part. */
function replicaName(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** One backend per compute type: a type without one does not compile. */
function computeRouter(aws: AwsClients): ComputeRouter {
  return new ComputeRouter({
    ecs: new EcsBackend(aws.ecs),
    ec2: new Ec2Backend(aws.ec2),
    asg: new AsgBackend(aws.autoScaling, aws.ec2),
  });
}

/**
 * The CI systems jobs come from, one line each: GitHub always (the App itself), the others when a
 * fleet of the fleets file serves them. A CI system without a line here does not compile.
 */
function ciSystems(
  config: AppConfig,
  fleets: FleetRegistry,
  tokens: SecretReader,
  deliveries: DeliveryLog,
  metrics: FleetbotMetrics,
): CiConnector[] {
  const onRecovered = (event: string) => metrics.deliveriesRecovered.inc({ event });
  const connectors: Record<CiSystem, () => CiConnector> = {
    github: () =>
      connectGitHub({
        retry: GITHUB_RETRY,
        recovery:
          config.deliveryRecoveryIntervalMs > 0 ? { deliveries, intervalMs: config.deliveryRecoveryIntervalMs, onRecovered } : undefined,
      }),
    gitlab: () =>
      connectGitLab({
        api: new GitLabApi({ attempts: 4, baseDelayMs: 250, maxDelayMs: 2_000 }),
        secrets: tokens,
        sweepIntervalMs: config.gitlabSweepIntervalMs > 0 ? config.gitlabSweepIntervalMs : undefined,
      }),
    circleci: () =>
      connectCircleCi({
        api: new CircleCiApi({ attempts: 4, baseDelayMs: 500, maxDelayMs: 5_000 }),
        secrets: tokens,
        pollIntervalMs: config.circleciPollIntervalMs,
      }),
  };
  const served = CI_SYSTEMS.filter((ci) => ci === 'github' || fleets.all().some((fleet) => fleet.ci === ci));
  return served.map((ci) => connectors[ci]());
}

async function issueOpsOptions(
  settings: IssueOpsSettings,
  store: IssueOpsStore,
  secrets: readonly string[],
): Promise<FleetbotOptions['issueOps']> {
  const { terraform } = settings;
  const cli = new TerraformCli({
    binary: terraform.binary,
    pluginMirror: terraform.pluginMirror,
    timeoutMs: terraform.timeoutSeconds * 1000,
    stateDir: terraform.workdir,
    // The app's environment (AWS credentials, proxy settings, PATH) without its own secrets.
    env: terraformEnvironment(process.env),
    secrets,
  });
  return {
    secrets,
    settings,
    store,
    workspace: new FleetWorkspace(terraform.workdir, cli),
    forms: await loadIssueForms(),
    synthesize: await loadSynthesizer(),
  };
}
