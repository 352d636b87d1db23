import { SQSClient } from '@aws-sdk/client-sqs';
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult, ScheduledEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { pino } from 'pino';
import type { Logger } from 'probot';
import { AWS_RETRY, nameFailedOperations } from './aws-calls.js';
import { checkGitHubDelivery } from './ci/github-door.js';
import {
  checkGitLabDelivery,
  GITLAB_WEBHOOK_MAX_BYTES,
  GITLAB_WEBHOOK_PATH,
  gitlabDelivery,
  GitLabWebhookTokens,
} from './ci/gitlab-door.js';
import { APP_SECRET_NAMES, ConfigError } from './config.js';
import { GITHUB_WEBHOOK_PATH } from './deliveries.js';
import { loadFleetsFile } from './fleets/file.js';
import { FleetRegistry } from './fleets/registry.js';
import { issueOpsSettingsSchema } from './issueops/settings.js';
import type { Fleetbot } from './index.js';
import type { PassesSummary } from './periodic-task.js';
import { answerFunctionUrl, handleSqsBatch, type DeliveryCheck, type FrontDoor } from './queue/lambda-handlers.js';
import { SqsDeliveryQueue } from './queue/sqs-queue.js';
import { readConfigWithAppSecrets } from './secrets/app-secrets.js';
import { CachedSecretParameters } from './secrets/parameters.js';

/**
 * The Lambda functions (dist/src/lambda.js), configured by the same environment as `npm start`. Each
 * builds what it needs once per container, at its first invocation, and starts no periodic work.
 *
 * `webhooks`, behind a function URL: verifies a GitHub or GitLab delivery, queues it, answers 202.
 * It loads neither Probot nor the app, so that a cold start stays short.
 *
 * `worker`, on the queue's event source mapping (with ReportBatchItemFailures): hands each message to the
 * app's handlers and names the ones that failed in `batchItemFailures`.
 *
 * `tick`, on an EventBridge schedule: one pass of each periodic task (`Fleetbot.periodicPass`), each under
 * its lease, then waits for the launches they started. It fails only when every task failed.
 *
 * With FLEETBOT_SECRETS_SSM_PREFIX, the App's credentials the environment lacks are read from SSM at cold
 * start: only WEBHOOK_SECRET by `webhooks`, APP_ID, PRIVATE_KEY and WEBHOOK_SECRET by the others.
 */

export async function webhooks(event: LambdaFunctionURLEvent): Promise<LambdaFunctionURLResult> {
  return answerFunctionUrl(event, await frontDoor());
}

export async function worker(event: SQSEvent): Promise<SQSBatchResponse> {
  const { fleetbot, log } = await loadedApp();
  return handleSqsBatch(event, fleetbot, log);
}

export async function tick(_event: ScheduledEvent): Promise<PassesSummary> {
  const { fleetbot, log } = await loadedApp();
  const summary = await fleetbot.periodicPass();
  // A container is frozen once the handler returns: launches a pass started (a backlog drained, a warm
  // pool topped up) end here, not at some later invocation.
  await fleetbot.idle();
  for (const { task, error } of summary.failed) log.error({ task, err: error }, `periodic task ${task} failed`);
  const line = `periodic pass: ran ${summary.ran.join(', ') || 'nothing'}; held elsewhere: ${summary.heldElsewhere.join(', ') || 'none'}`;
  log.info({ ran: summary.ran, heldElsewhere: summary.heldElsewhere, failed: summary.failed.map(({ task }) => task) }, line);
  // Lambda counts a thrown invocation as an error (the functions' alarms); one failing task among several is only logged.
  if (summary.failed.length > 0 && summary.ran.length + summary.heldElsewhere.length === 0) {
    throw new Error(`every periodic task failed: ${summary.failed.map(({ task, error }) => `${task}: ${error.message}`).join('; ')}`);
  }
  return summary;
}

/** Built once per container; a build that failed is tried again at the next invocation. */
function once<T>(build: () => Promise<T>): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () => {
    built ??= build().catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    return built;
  };
}

const frontDoor = once(async (): Promise<FrontDoor> => {
  // Only its own secret: its role may read no other.
  const config = await readConfigWithAppSecrets(['WEBHOOK_SECRET'], process.env);
  if (!config.webhookSecret) throw new ConfigError('WEBHOOK_SECRET is not set: the webhooks function cannot verify deliveries');
  if (!config.queue) throw new ConfigError('FLEETBOT_QUEUE_URL is not set: the webhooks function has no queue to put deliveries on');
  const fleets = new FleetRegistry((await loadFleetsFile(config.fleetsFile, config.fleetsFileRequired, issueOpsSettingsSchema)).fleets);
  const log: Logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { name: 'fleetbot' } });
  const secret = config.webhookSecret;
  const routes: Record<string, DeliveryCheck> = { [GITHUB_WEBHOOK_PATH]: async (request) => checkGitHubDelivery(secret, request) };
  if (fleets.all().some((fleet) => fleet.ci === 'gitlab')) {
    // SSM (its client takes 200 ms to load) only for GitLab's webhook secrets.
    const { SSMClient } = await import('@aws-sdk/client-ssm');
    const secrets = new CachedSecretParameters(nameFailedOperations(new SSMClient(AWS_RETRY), 'ssm'));
    const tokens = new GitLabWebhookTokens(fleets, { webhookSecret: (parameter) => secrets.read(parameter) }, log);
    routes[GITLAB_WEBHOOK_PATH] = async (request) =>
      Buffer.byteLength(request.body) > GITLAB_WEBHOOK_MAX_BYTES
        ? { status: 413, message: `the body exceeds ${GITLAB_WEBHOOK_MAX_BYTES} bytes` }
        : checkGitLabDelivery(tokens, gitlabDelivery(request));
  }
  const queue = new SqsDeliveryQueue(nameFailedOperations(new SQSClient(AWS_RETRY), 'sqs'), config.queue.url);
  return { routes, queue, log };
});

/** The app as `worker` and `tick` run it: no periodic work of its own, and no Terraform. */
const loadedApp = once(async (): Promise<{ fleetbot: Fleetbot; log: Logger }> => {
  const config = await readConfigWithAppSecrets(APP_SECRET_NAMES, process.env);
  if (!config.hasAppCredentials)
    throw new ConfigError('APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH) are not set: the function cannot act as the App');
  // Loaded here, not at the top: the webhooks function in the same bundle never pays for them.
  const [{ assembleFleetbot, fleetbotOctokit }, { createProbot }, { createAppLog }] = await Promise.all([
    import('./assemble.js'),
    import('probot'),
    import('./log.js'),
  ]);
  const { fleetbot } = await assembleFleetbot(config, { periodicWork: false, terraform: false });
  const log = await createAppLog(process.env);
  const probot = createProbot({ overrides: { Octokit: fleetbotOctokit(), log } });
  // The worker serves no HTTP routes: a route the app adds (GitLab's) is the webhooks function's job.
  await probot.load(fleetbot.app, { cwd: process.cwd(), addHandler: () => undefined });
  return { fleetbot, log: log.child({ name: 'fleetbot' }) };
});
