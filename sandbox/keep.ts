import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Task } from '@aws-sdk/client-ecs';
import { TAG_FLEET, TAG_JOB, TAG_RUNNER } from '../src/compute/types.js';
import type { FleetSpec } from '../src/fleets/spec.js';
import { runnerParameterName } from '../src/secrets/ssm.js';
import { tagOf } from '../test/helpers/aws-fixture.js';
import { completedJob, queuedJob } from '../test/helpers/payloads.js';
import { curlCommand } from './curl.js';
import { ORG, placementOf, type Stage } from './demo.js';
import { credentialLine, launchedLine, queuedLine } from './narrate.js';
import { allTasks, credentialIn } from './observe.js';

/** The first job id offered for the user's own webhooks, clear of the demo's. */
const FIRST_OWN_JOB_ID = 2001;

const WATCH_INTERVAL_MS = 1_000;

/**
 * `--keep`: writes a queued workflow_job payload and the webhook secret next to the log, prints the command
 * that signs and sends it, then watches moto and narrates every task the user's webhooks launch or stop,
 * each launch with the command that completes its job. Returns how to stop watching.
 */
export function serveOwnWebhooks(stage: Stage, fleet: FleetSpec, clusters: string[], dir: string): { stop(): Promise<void> } {
  const secretFile = join(dir, 'webhook-secret');
  writeFileSync(secretFile, stage.webhookSecret, { mode: 0o600 });
  const queuedFile = join(dir, 'workflow_job-queued.json');
  writeFileSync(queuedFile, `${JSON.stringify(queuedJob({ jobId: FIRST_OWN_JOB_ID, labels: fleet.labels, org: ORG }), null, 2)}\n`);

  stage.say('');
  stage.say(`Staying up (--keep). Send your own queued job (${queuedFile}; change workflow_job.id to queue another):`);
  stage.say('');
  stage.say(curlCommand(stage.app.url, 'workflow_job', queuedFile, secretFile));
  stage.say('');
  stage.say('Tasks your webhooks launch or stop are printed below. Ctrl-C stops everything.');

  const watcher = new TaskWatcher(stage, fleet, clusters, dir, secretFile);
  return watcher.start();
}

/** Narrates tasks that appear or stop in moto after the demo. */
class TaskWatcher {
  private readonly announced = new Set<string>();
  private readonly stopped = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** The pass under way: a tick that comes during one is skipped, so slow passes never pile up. */
  private pass: Promise<void> | undefined;
  private failedOnce = false;

  constructor(
    private readonly stage: Stage,
    private readonly fleet: FleetSpec,
    private readonly clusters: string[],
    private readonly dir: string,
    private readonly secretFile: string,
  ) {}

  start(): { stop(): Promise<void> } {
    // The demo's tasks were narrated already: only what comes after is news.
    this.pass = this.skipExisting()
      .catch((error: Error) => this.reportOnce(error))
      .finally(() => (this.pass = undefined));
    this.timer = setInterval(() => {
      this.pass ??= this.look()
        .catch((error: Error) => this.reportOnce(error))
        .finally(() => (this.pass = undefined));
    }, WATCH_INTERVAL_MS);
    return {
      stop: async () => {
        clearInterval(this.timer);
        await this.pass?.catch(() => undefined);
      },
    };
  }

  private async skipExisting(): Promise<void> {
    for (const task of await allTasks(this.stage.moto, this.clusters)) {
      this.announced.add(task.taskArn!);
      if (task.lastStatus === 'STOPPED') this.stopped.add(task.taskArn!);
    }
  }

  private async look(): Promise<void> {
    for (const task of await allTasks(this.stage.moto, this.clusters)) {
      const arn = task.taskArn!;
      if (!this.announced.has(arn) && (await this.announce(task))) this.announced.add(arn);
      if (this.announced.has(arn) && !this.stopped.has(arn) && task.lastStatus === 'STOPPED') {
        this.stopped.add(arn);
        const reason = task.stoppedReason ? `, reason "${task.stoppedReason}"` : '';
        this.stage.say(`   task ${arn} (job ${tagOf(task, TAG_JOB)}) stopped${reason}`);
      }
    }
  }

  /**
   * Prints the launch once its credential is in SSM too (the app writes it just after RunTask); false to try
   * again on the next pass. A task already stopped is announced without it: its credential is gone for good.
   */
  private async announce(task: Task): Promise<boolean> {
    const { moto, github, shim, say } = this.stage;
    const runnerName = tagOf(task, TAG_RUNNER)!;
    const jobId = Number(tagOf(task, TAG_JOB));
    const parameterName = runnerParameterName(this.fleet.name, runnerName);
    const credential = await credentialIn(moto, github, parameterName, runnerName);
    if (!credential && task.lastStatus !== 'STOPPED') return false;
    const cluster = task.clusterArn?.split('/').pop() ?? '';
    say('');
    say(queuedLine(jobId, this.fleet.labels, tagOf(task, TAG_FLEET) ?? '(untagged)'));
    say(launchedLine(task, cluster, placementOf(shim, runnerName, task.launchType)));
    if (!credential) return true;
    say(credentialLine(parameterName, credential.type, credential.source));
    // GitHub names the runner in the completed event; the payload is ready for the user to send.
    const completedFile = join(this.dir, `workflow_job-completed-${jobId}.json`);
    writeFileSync(completedFile, `${JSON.stringify(completedJob({ jobId, labels: this.fleet.labels, org: ORG, runnerName }), null, 2)}\n`);
    say(`   To complete job ${jobId}:`);
    say(curlCommand(this.stage.app.url, 'workflow_job', completedFile, this.secretFile));
    return true;
  }

  private reportOnce(error: Error): void {
    if (this.failedOnce) return;
    this.failedOnce = true;
    console.error(`sandbox: could not read the tasks from moto: ${error.message}`);
  }
}
