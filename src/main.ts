import { ProbotOctokit, run } from 'probot';
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
import { applyDotEnvFile, readConfig, terraformEnvironment, type AppConfig } from './config.js';
import { FleetRegistry } from './fleets/registry.js';
import { CI_SYSTEMS, type CiSystem } from './fleets/spec.js';
import { loadFleetsFile } from './fleets/file.js';
import { createFleetbot, type FleetbotOptions } from './index.js';
import { issueOpsSettingsSchema, type IssueOpsSettings } from './issueops/settings.js';
import { loadSynthesizer } from '../cdktf/load-synthesizer.js';
import { loadIssueForms } from './issueops/templates.js';
import { createAppLog } from './log.js';
import { FleetWorkspace } from './issueops/workspace.js';
import { CachedSecretParameters } from './secrets/parameters.js';
import { RunnerSecrets } from './secrets/ssm.js';
import type { SecretReader } from './secrets/types.js';
import { startupSummary } from './fleets/startup-summary.js';
import { openStores } from './store/open.js';
import type { DeliveryLog, IssueOpsStore } from './store/types.js';
import { TerraformCli } from './terraform/cli.js';

const GITHUB_RETRY = { attempts: 4, baseDelayMs: 500, maxDelayMs: 10_000 };

/** `npm start`: the app on its embedded defaults, or Probot's setup page when it has no App yet. */
async function main(): Promise<void> {
  applyDotEnvFile();
  const config = readConfig();
  if (!config.hasAppCredentials) {
    // Probot serves its setup page, which registers the App from app.yml and writes .env.
    await run(() => undefined);
    return;
  }
  if (!config.webhookSecret) {
    throw new Error('WEBHOOK_SECRET is not set: fleetbot refuses to accept unsigned webhooks');
  }
  const fleetsFile = await loadFleetsFile(config.fleetsFile, config.fleetsFileRequired, issueOpsSettingsSchema);
  const fleets = new FleetRegistry(fleetsFile.fleets);
  const aws = createAwsClients();
  const stores = await openStores(config.store, { dynamodb: aws.dynamodb, retentionMs: config.retentionMs });
  const secrets = new RunnerSecrets(aws.ssm, config.ssmKmsKeyId);
  const fleetbot = createFleetbot({
    deliveries: stores.deliveries,
    store: stores.jobs,
    fleets,
    compute: computeRouter(aws),
    credentials: secrets,
    runnerParameters: secrets,
    // The CI systems' own tokens (API, runner, webhook secrets), shared by their sources.
    ciSystems: ciSystems(config, fleets, new CachedSecretParameters(aws.ssm), stores.deliveries),
    githubRetry: GITHUB_RETRY,
    launchTimeoutMs: config.launchTimeoutMs,
    orphanGraceMs: config.orphanGraceMs,
    runnerSweepIntervalMs: config.runnerSweepIntervalMs,
    reconcileIntervalMs: config.reconcileIntervalMs,
    retention: stores.retention && { store: stores.retention, retentionMs: config.retentionMs },
    issueOps: fleetsFile.issueops && (await issueOpsOptions(fleetsFile.issueops, stores.issueOps, config.secretValues)),
  });
  // Retries are fleetbot's own (src/retry.ts); throttling stays on so writes keep GitHub's pace.
  const Octokit = ProbotOctokit.defaults((options: Record<string, unknown>) => ({ ...options, retry: { enabled: false } }));
  const log = await createAppLog(process.env);
  const server = await run(fleetbot.app, { Octokit, log });
  log.child({ name: 'fleetbot' }).info(...startupSummary(fleets.all(), fleetsFile.issueops?.repository));
  stopOnSignals(config.shutdownMs, {
    drain: () => fleetbot.stop(),
    // An apply cut short leaves the infrastructure half-built and the state locked: it is always waited for.
    finishTerraform: async () => fleetbot.issueOps?.idle(),
    close: async () => {
      await server.stop();
      await stores.close();
    },
  });
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
function ciSystems(config: AppConfig, fleets: FleetRegistry, tokens: SecretReader, deliveries: DeliveryLog): CiConnector[] {
  const connectors: Record<CiSystem, () => CiConnector> = {
    github: () =>
      connectGitHub({
        retry: GITHUB_RETRY,
        recovery: config.deliveryRecoveryIntervalMs > 0 ? { deliveries, intervalMs: config.deliveryRecoveryIntervalMs } : undefined,
      }),
    gitlab: () => connectGitLab({ api: new GitLabApi({ attempts: 4, baseDelayMs: 250, maxDelayMs: 2_000 }), secrets: tokens }),
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

/**
 * SIGTERM and Ctrl-C stop the app. Webhooks are still answered while launches under way finish, for up
 * to `boundMs`; a terraform apply (its own process group, which Ctrl-C does not reach) always runs to its
 * end; then the server and the store close, and the process exits 0.
 */
function stopOnSignals(
  boundMs: number,
  steps: { drain: () => Promise<void>; finishTerraform: () => Promise<void>; close: () => Promise<void> },
): void {
  const shutdown = async (signal: string) => {
    console.info(`fleetbot: ${signal}, stopping: launches under way get up to ${boundMs / 1000} s`);
    let bound: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      steps.drain().then(() => true),
      new Promise<boolean>((resolveBound) => (bound = setTimeout(() => resolveBound(false), boundMs))),
    ]);
    clearTimeout(bound);
    if (!drained) console.info(`fleetbot: work still under way after ${boundMs / 1000} s; stopping without it`);
    await steps.finishTerraform();
    await steps.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  // Probot's run() exits on Ctrl-C at once; fleetbot's shutdown waits for launches under way and closes the store.
  process.removeAllListeners('SIGINT');
  process.once('SIGINT', () => void shutdown('SIGINT'));
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

main().catch((error: unknown) => {
  console.error(`fleetbot: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
