import type { Logger, Probot } from 'probot';
import type { VerifiedDelivery } from '../deliveries.js';
import { taskLease } from '../lease-keeper.js';
import type { RetryPolicy } from '../retry.js';
import type { DeliveryLog } from '../store/types.js';
import { deliveryRecovery, octokitDeliveriesApi } from './github-deliveries.js';
import { GITHUB, GitHubSource, parseWorkflowJob } from './github.js';
import type { CiConnector, Delivery, JobEvent, JobSink } from './types.js';

/**
 * GitHub Actions as a CI system: `workflow_job` deliveries through Probot (signatures already checked)
 * feed the sink; runners are registered with the App's installation tokens. With `recovery`, deliveries
 * GitHub could not make are redelivered (github-deliveries.ts) at start and then every `intervalMs`.
 * `replay` hands a queued delivery (verified at the door: webhook-signatures.ts, github-door.ts) to Probot.
 */
export function connectGitHub(options: {
  retry: RetryPolicy;
  recovery?: { deliveries: DeliveryLog; intervalMs: number; onRecovered?: (event: string) => void };
}): CiConnector {
  return ({ probot, log, leases }) => ({
    source: new GitHubSource((installationId) => probot.auth(installationId), options.retry, { appOctokit: () => probot.auth() }),
    listen: (sink) => {
      probot.on('workflow_job', (context) => receiveWorkflowJob(context.payload, { deliveryId: context.id }, sink, log));
      // A queued delivery reaches every Probot handler, IssueOps' too, as a delivery straight from GitHub does.
      const replay = (delivery: VerifiedDelivery) =>
        probot.receive({ id: delivery.id ?? '', name: delivery.event, payload: JSON.parse(delivery.body) } as Parameters<
          Probot['receive']
        >[0]);
      const { recovery } = options;
      if (!recovery) return { replay };
      const api = octokitDeliveriesApi(() => probot.auth(), options.retry);
      const periodicTask = 'github-delivery-recovery';
      const { deliveries, onRecovered } = recovery;
      const task = deliveryRecovery({ api, deliveries, log, onRecovered }, taskLease(leases, periodicTask));
      return { start: () => task.start(recovery.intervalMs), pass: () => task.pass(), periodicTask, stop: () => task.stop(), replay };
    },
  });
}

/** One `workflow_job` delivery: parsed, its receipt logged with its delivery id, and fed to the sink. */
export async function receiveWorkflowJob(payload: unknown, delivery: Delivery, sink: JobSink, log: Logger): Promise<void> {
  const parsed = parseWorkflowJob(payload);
  if (parsed.kind === 'malformed') {
    log.warn(delivery, `${parsed.reason}; ignored`);
    return;
  }
  if (parsed.kind === 'ignored') {
    log.debug(delivery, parsed.reason);
    return;
  }
  const { event } = parsed;
  const jobId = event.kind === 'queued' ? event.job.jobId : event.jobId;
  log.debug({ ...delivery, ci: GITHUB, jobId }, `workflow_job ${event.kind} received`);
  await feed(sink, event, delivery);
}

async function feed(sink: JobSink, event: JobEvent, delivery: Delivery): Promise<void> {
  switch (event.kind) {
    case 'queued':
      await sink.jobQueued(event.job, delivery);
      return;
    case 'started':
      return sink.jobStarted(event, delivery);
    case 'completed':
      return sink.jobCompleted(event, delivery);
  }
}
