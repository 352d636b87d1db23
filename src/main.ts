import { run } from 'probot';
import { assembleFleetbot, fleetbotOctokit } from './assemble.js';
import { APP_SECRET_NAMES, applyDotEnvFile } from './config.js';
import { startupSummary } from './fleets/startup-summary.js';
import { createAppLog } from './log.js';
import { QueueConsumer } from './queue/consumer.js';
import { readConfigWithAppSecrets } from './secrets/app-secrets.js';

/** `npm start`: the app on its embedded defaults, or Probot's setup page when it has no App yet. */
async function main(): Promise<void> {
  applyDotEnvFile();
  const config = await readConfigWithAppSecrets(APP_SECRET_NAMES, process.env);
  if (!config.hasAppCredentials) {
    // Probot serves its setup page, which registers the App from app.yml and writes .env.
    await run(() => undefined);
    return;
  }
  if (!config.webhookSecret) {
    throw new Error('WEBHOOK_SECRET is not set: fleetbot refuses to accept unsigned webhooks');
  }
  const { fleetbot, stores, aws, fleets, issueOps, metrics } = await assembleFleetbot(config, { periodicWork: true, terraform: true });
  const log = await createAppLog(process.env);
  const server = await run(fleetbot.app, { Octokit: fleetbotOctokit(metrics), log });
  log.child({ name: 'fleetbot' }).info(...startupSummary(fleets.all(), issueOps?.repository));
  // With a queue, every replica also consumes it unless FLEETBOT_WORKER=false (it then only receives).
  const consumer = config.queue?.consume
    ? new QueueConsumer({ sqs: aws.sqs, queueUrl: config.queue.url, handle: (delivery) => fleetbot.replay(delivery), log })
    : undefined;
  consumer?.start();
  stopOnSignals(config.shutdownMs, {
    // The queue first: deliveries in hand are handled (or left to come back) before the app stops.
    drain: async () => {
      await consumer?.stop();
      await fleetbot.stop();
    },
    // An apply cut short leaves the infrastructure half-built and the state locked: it is always waited for.
    finishTerraform: async () => fleetbot.issueOps?.idle(),
    close: async () => {
      await server.stop();
      await stores.close();
    },
  });
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

main().catch((error: unknown) => {
  console.error(`fleetbot: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
