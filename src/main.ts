import { ProbotOctokit, run } from 'probot';
import { createAwsClients } from './aws.js';
import { EcsBackend } from './compute/ecs.js';
import { readConfig } from './config.js';
import { FleetRegistry } from './fleets/registry.js';
import { loadFleetsFile } from './fleets/spec.js';
import { createFleetbot } from './index.js';
import { RunnerSecrets } from './secrets/ssm.js';
import { SqliteStore } from './store/sqlite.js';

/** `npm start`: the app on its embedded defaults, or Probot's setup page when it has no App yet. */
async function main(): Promise<void> {
  const config = readConfig();
  if (!config.hasAppCredentials) {
    // Probot serves its setup page, which registers the App from app.yml and writes .env.
    await run(() => undefined);
    return;
  }
  if (!config.webhookSecret) {
    throw new Error('WEBHOOK_SECRET is not set: fleetbot refuses to accept unsigned webhooks');
  }
  const fleets = new FleetRegistry(await loadFleetsFile(config.fleetsFile, config.fleetsFileRequired));
  const store = new SqliteStore(config.databaseFile);
  const aws = createAwsClients();
  const fleetbot = createFleetbot({
    store,
    fleets,
    compute: new EcsBackend(aws.ecs),
    credentials: new RunnerSecrets(aws.ssm, config.ssmKmsKeyId),
    githubRetry: { attempts: 4, baseDelayMs: 500, maxDelayMs: 10_000 },
    launchTimeoutMs: config.launchTimeoutMs,
    reconcileIntervalMs: config.reconcileIntervalMs,
  });
  // Retries are fleetbot's own (src/retry.ts); throttling stays on so writes keep GitHub's pace.
  const Octokit = ProbotOctokit.defaults((options: Record<string, unknown>) => ({ ...options, retry: { enabled: false } }));
  const server = await run(fleetbot.app, { Octokit });
  if (fleets.all().length === 0) {
    console.warn(`fleetbot: no fleets configured (${config.fleetsFile}); every job will be unmatched`);
  }

  const shutdown = async (signal: string) => {
    console.info(`fleetbot: ${signal}, stopping`);
    await server.stop();
    await fleetbot.stop();
    await store.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(`fleetbot: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
