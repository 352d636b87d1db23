import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startAppProcess } from '../test/helpers/app-process.js';
import { testPrivateKey } from '../test/helpers/app-key.js';
import { startFakeGitHub, type FakeGitHub } from '../test/helpers/fake-github.js';
import { startMoto, type Moto } from '../test/helpers/moto.js';
import { createFleetResources } from './aws-resources.js';
import { runJob, type Stage } from './demo.js';
import { startFargateShim, type FargateShim } from './fargate-shim.js';
import { readExampleFleets, writeSandboxFleets } from './fleets-file.js';
import { serveOwnWebhooks } from './keep.js';
import { resourcesLine, summaryLine } from './narrate.js';
import { allTasks, credentialsLeft } from './observe.js';
import { nextStopSignal, Shutdown } from './shutdown.js';

export interface SandboxOptions {
  /** The repository: where fleetbot.example.yml and the build are. */
  root: string;
  /** Stay up after the demo for the user's own webhooks, until Ctrl-C. */
  keep: boolean;
}

const DEMO_JOB_IDS = [1001, 1002, 1003];

const say = (line: string) => console.log(line);

/**
 * The sandbox, top-down: start moto and the GitHub stand-in, build the example fleet's resources in moto,
 * start the real app against both, run a few jobs through it narrating what each system shows, then stop
 * everything it started, or with --keep stay up until Ctrl-C. Resolves with the exit code.
 */
export async function runSandbox(options: SandboxOptions): Promise<number> {
  const shutdown = new Shutdown();
  const stopSignal = nextStopSignal();
  // Kept afterwards: it holds the app's log, which the user may want to read.
  const dir = mkdtempSync(join(tmpdir(), 'fleetbot-sandbox-'));

  const work = stageAndRunDemo(options, shutdown, dir);
  const first = await Promise.race([
    work.then(
      () => ({ kind: 'done' }) as const,
      (error: Error) => ({ kind: 'failed', error }) as const,
    ),
    stopSignal.then((signal) => ({ kind: 'signal', signal }) as const),
  ]);
  let code = 0;
  if (first.kind === 'done' && options.keep) {
    say(`\n${await stopSignal}: stopping the app, the GitHub stand-in and moto_server`);
  } else if (first.kind !== 'done') {
    // A Ctrl-C in a terminal reaches moto and the app too: the demo may fail a moment before the signal arrives here.
    const signal = first.kind === 'signal' ? first.signal : await Promise.race([stopSignal, delay(200)]);
    if (signal) {
      say(`\n${signal}: the demo was interrupted; stopping what it started`);
      code = signal === 'SIGINT' ? 130 : 143;
    } else if (first.kind === 'failed') {
      console.error(`\nsandbox: ${first.error.message}\nThe app's log: ${join(dir, 'app.log')}`);
      code = 1;
    }
  }

  await shutdown.stopAll();
  say(`Stopped everything the sandbox started. Its files (app log, fleets file, database) stay in ${dir}`);
  return code;
}

async function stageAndRunDemo(options: SandboxOptions, shutdown: Shutdown, dir: string): Promise<void> {
  say('fleetbot sandbox: the real app, with moto_server standing in for AWS and a local fake for GitHub');
  say(`Files (app log, fleets file, database): ${dir}`);

  const moto = await shutdown.start('moto_server', startMoto, (started) => started.stop());
  say(`moto_server (AWS) on ${moto.url}`);
  const github = await shutdown.start(
    'the GitHub stand-in',
    () => startFakeGitHub(),
    (started) => started.close(),
  );
  say(`GitHub stand-in on ${github.apiUrl} (test/helpers/fake-github.ts)`);

  const example = readExampleFleets(join(options.root, 'fleetbot.example.yml'));
  const resources = await createFleetResources(moto, example.fleets);
  say(resourcesLine(resources));
  const fleetsFile = join(dir, 'fleetbot.yml');
  writeSandboxFleets(example, resources, fleetsFile);
  say(`Fleets file: ${fleetsFile} (fleetbot.example.yml with the subnet and security group made in moto)`);

  const shim = await shutdown.start(
    'the Fargate shim',
    () => startFargateShim(moto.url),
    (started) => started.close(),
  );
  const webhookSecret = randomBytes(20).toString('hex');
  const logFile = join(dir, 'app.log');
  const app = await shutdown.start(
    'the app',
    // Started in its own directory: the app applies ./.env over its environment, and the repository's .env
    // holds the user's real App credentials once they have registered one.
    () => startAppProcess(appEnvironment({ moto, github, shim, dir, fleetsFile, webhookSecret }), { logFile, cwd: dir }),
    (started) => started.stop(),
  );
  say(`fleetbot (node dist/src/main.js, pid ${app.pid}) on ${app.url}, logging to ${logFile}`);

  const stage: Stage = { moto, github, shim, app, webhookSecret, say };
  const clusters = resources.clusters.map((cluster) => cluster.name);
  say('');
  say(
    `Sending ${DEMO_JOB_IDS.length} jobs as GitHub would: signed workflow_job webhooks (queued, then completed) from @octokit/webhooks-examples`,
  );
  let firstLaunch: number | undefined;
  for (const [index, jobId] of DEMO_JOB_IDS.entries()) {
    say('');
    const { launchedAt } = await runJob(stage, example.fleets[index % example.fleets.length], jobId);
    firstLaunch ??= launchedAt;
  }
  say('');
  say(await summarize(stage, clusters, firstLaunch));

  if (options.keep) {
    await shutdown.start(
      'the task watcher',
      async () => serveOwnWebhooks(stage, example.fleets[0], clusters, dir),
      (watcher) => watcher.stop(),
    );
  }
}

/** The app's environment, as an operator would set it, pointed at the stand-ins. */
function appEnvironment(options: {
  moto: Moto;
  github: FakeGitHub;
  shim: FargateShim;
  dir: string;
  fleetsFile: string;
  webhookSecret: string;
}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    // Nothing from the user's home (an AWS profile, say) reaches the app.
    HOME: options.dir,
    APP_ID: '1',
    PRIVATE_KEY: testPrivateKey(),
    WEBHOOK_SECRET: options.webhookSecret,
    GHE_HOST: options.github.host,
    GHE_PROTOCOL: 'http',
    LOG_LEVEL: 'debug',
    NODE_ENV: 'production',
    FLEETBOT_CONFIG: options.fleetsFile,
    FLEETBOT_DB: join(options.dir, 'data', 'fleetbot.db'),
    ...options.moto.env,
    // The app's AWS calls go through the shim; the narration reads moto directly.
    AWS_ENDPOINT_URL: options.shim.url,
  };
}

/** The run's outcome as moto holds it, and how long it took (from the process's start, the build excluded). */
async function summarize(stage: Stage, clusters: string[], firstLaunch: number | undefined): Promise<string> {
  const tasks = await allTasks(stage.moto, clusters);
  const line = summaryLine({
    jobs: DEMO_JOB_IDS.length,
    webhooks: DEMO_JOB_IDS.length * 2,
    launched: tasks.length,
    stopped: tasks.filter((task) => task.lastStatus === 'STOPPED').length,
    credentialsLeft: await credentialsLeft(stage.moto),
    firstLaunchSeconds: firstLaunch === undefined ? undefined : firstLaunch / 1000,
    elapsedSeconds: performance.now() / 1000,
  });
  const violations = stage.github.openApiViolations;
  return violations.length === 0
    ? line
    : `${line}\nThe app's GitHub requests broke GitHub's API description:\n  ${violations.join('\n  ')}`;
}
