import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'probot';
import type { FleetRegistry } from '../fleets/registry.js';
import type { GitLabSettings } from '../fleets/spec.js';
import { enqueueDelivery, type DeliveryQueue, type VerifiedDelivery, type WebhookAnswer } from '../deliveries.js';
import { errorFields } from '../errors.js';
import { sleep as realSleep, type Sleep } from '../retry.js';
import type { SecretReader } from '../secrets/types.js';
import type { Store } from '../store/types.js';
import {
  GITLAB,
  GitLabApiError,
  GitLabSource,
  gitlabJobId,
  gitlabQueuedAt,
  isFinishedStatus,
  parseJobHook,
  type GitLabApi,
  type GitLabOrigin,
} from './gitlab.js';
import { GitLabSweep, gitlabSweepTask } from './gitlab-sweep.js';
import { taskLease } from '../lease-keeper.js';
import {
  checkGitLabDelivery,
  connectionsVerifiedBy,
  GITLAB_WEBHOOK_MAX_BYTES,
  GITLAB_WEBHOOK_PATH,
  gitlabDelivery,
  GitLabWebhookTokens,
  ignoredEvent,
  JOB_HOOK,
  type GitLabDelivery,
} from './gitlab-door.js';
import type { CiConnector, Delivery, JobSink } from './types.js';

export interface GitLabWebhooksDeps {
  source: GitLabSource;
  fleets: FleetRegistry;
  store: Pick<Store, 'getJob'>;
  sink: JobSink;
  log: Logger;
  /** How many delivery UUIDs to remember; older redeliveries still stop at the store's job dedupe. */
  rememberedDeliveries?: number;
  /** The waits between later reads of a pending job whose tags GitLab's API would not give on arrival. */
  lateReadDelaysMs?: readonly number[];
  sleep?: Sleep;
}

/** About 18 minutes in all, by then GitLab has usually answered or the job has timed out there. */
export const DEFAULT_LATE_READ_DELAYS_MS = [15_000, 30_000, 60_000, 120_000, 240_000, 300_000, 300_000];

/** What to do about a failure asking again may cure: read later (webhooks), or throw so a queue delivers it again. */
type OnRetryable = 'read-later' | 'throw';

/** A failure that asking again may cure: GitLab's 5xx, 429 and network errors, and SSM errors reading the token. */
function isRetryable(error: unknown): boolean {
  return !(error instanceof GitLabApiError) || error.verdict.retry;
}

/** Insertion-ordered set that forgets its oldest keys beyond a bound. */
class RecentKeys {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity: number) {}

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    this.keys.add(key);
    if (this.keys.size > this.capacity) this.keys.delete(this.keys.values().next().value!);
  }
}

/**
 * GitLab's Job events, from an unverified delivery to the scheduler: token check, delivery dedupe,
 * payload parsing, tags read from GitLab's API, then queued or completed. Answers say what happened,
 * in words for GitLab's "Recent events" view.
 */
export class GitLabWebhooks {
  private readonly deliveries: RecentKeys;
  private readonly tokens: GitLabWebhookTokens;
  private readonly sleep: Sleep;
  private readonly lateReadDelaysMs: readonly number[];
  /** Pending jobs whose tags are read again later, by job id. */
  private readonly lateReads = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(private readonly deps: GitLabWebhooksDeps) {
    this.deliveries = new RecentKeys(deps.rememberedDeliveries ?? 10_000);
    this.tokens = new GitLabWebhookTokens(deps.fleets, deps.source, deps.log);
    this.sleep = deps.sleep ?? realSleep;
    this.lateReadDelaysMs = deps.lateReadDelaysMs ?? DEFAULT_LATE_READ_DELAYS_MS;
  }

  /** Resolves when no later read of a pending job is under way. */
  async idle(): Promise<void> {
    while (this.lateReads.size > 0) await Promise.allSettled([...this.lateReads.values()]);
  }

  /** Later reads give up at their next turn, each saying which job it leaves without a runner. */
  stop(): void {
    this.stopped = true;
  }

  async receive(delivery: GitLabDelivery): Promise<WebhookAnswer> {
    const fields: Delivery = { deliveryId: delivery.eventUuid };
    const connections = await this.tokens.verify(delivery);
    if (!Array.isArray(connections)) return connections;
    if (delivery.eventUuid && this.deliveries.has(delivery.eventUuid)) {
      this.deps.log.debug(fields, 'GitLab delivery already handled; redelivery ignored');
      return { status: 200, message: 'delivery already handled' };
    }
    const answer = await this.handle(delivery, connections, fields, 'read-later');
    // Only a handled delivery is remembered: one that failed with 5xx must run again when resent.
    if (delivery.eventUuid && answer.status < 500) this.deliveries.add(delivery.eventUuid);
    return answer;
  }

  /**
   * A delivery the queue's door verified (gitlab-door.ts), handled as `receive` would handle it, except
   * that a failure asking again may cure throws: the queue then delivers it again, later.
   */
  async replay(delivery: VerifiedDelivery): Promise<void> {
    const fields: Delivery = { deliveryId: delivery.id };
    const connections = connectionsVerifiedBy(this.deps.fleets, delivery.matched ?? []);
    if (connections.length === 0) {
      this.deps.log.warn(fields, 'no fleet has the webhook secret this queued GitLab delivery was verified with any more; ignored');
      return;
    }
    if (delivery.id && this.deliveries.has(delivery.id)) {
      this.deps.log.debug(fields, 'GitLab delivery already handled; redelivery ignored');
      return;
    }
    const received: GitLabDelivery = { token: undefined, eventName: delivery.event, eventUuid: delivery.id, body: delivery.body };
    const answer = await this.handle(received, connections, fields, 'throw');
    if (delivery.id) this.deliveries.add(delivery.id);
    if (answer.status >= 400) this.deps.log.warn({ ...fields, status: answer.status }, `queued GitLab delivery refused: ${answer.message}`);
  }

  private async handle(
    delivery: GitLabDelivery,
    connections: GitLabSettings[],
    fields: Delivery,
    onRetryable: OnRetryable,
  ): Promise<WebhookAnswer> {
    if (delivery.eventName !== JOB_HOOK) return ignoredEvent(delivery.eventName);
    let payload: unknown;
    try {
      payload = JSON.parse(delivery.body);
    } catch {
      return { status: 400, message: 'the body is not valid JSON' };
    }
    const parsed = parseJobHook(payload);
    if (parsed.kind === 'malformed') {
      this.deps.log.warn(fields, parsed.reason);
      return { status: 400, message: parsed.reason };
    }
    if (parsed.kind === 'ignored') return { status: 200, message: parsed.reason };

    const connection = connectionFor(connections, parsed.projectUrl);
    const jobId = gitlabJobId(connection.url, parsed.buildId);
    const jobFields = { ...fields, ci: GITLAB, jobId };
    this.deps.log.debug(jobFields, `Job Hook ${parsed.kind} received`);
    if (parsed.kind === 'running') {
      const { runnerDescription: runnerName, startedAt, queuedAt } = parsed;
      await this.deps.sink.jobStarted({ ci: GITLAB, jobId, runnerName, startedAt, queuedAt }, fields);
      return { status: 200, message: `job ${jobId} started` };
    }
    const origin: GitLabOrigin = {
      instanceUrl: connection.url,
      projectId: parsed.projectId,
      buildId: parsed.buildId,
      apiTokenParameter: connection.apiTokenParameter,
    };
    if (parsed.kind === 'finished') {
      const unconfirmed = await this.unconfirmedFinish(origin, jobId, fields);
      if (unconfirmed) return { status: 200, message: unconfirmed };
      const { runnerDescription: runnerName, conclusion } = parsed;
      await this.deps.sink.jobCompleted({ ci: GITLAB, jobId, runnerName, origin, conclusion }, fields);
      return { status: 200, message: `job ${jobId} completed` };
    }
    return this.pending(origin, jobId, fields, onRetryable);
  }

  /**
   * Anyone holding the webhook secret could claim a job finished and name any runner, so GitLab's API
   * must say so too before a runner is stopped. Says why not, or undefined when GitLab confirms it. An
   * unconfirmed completion frees nothing: the runner's task ends with its job, and the reconciler
   * frees its slot then.
   */
  private async unconfirmedFinish(origin: GitLabOrigin, jobId: string, delivery: Delivery): Promise<string | undefined> {
    const fields = { ...delivery, ci: GITLAB, jobId };
    try {
      const job = await this.deps.source.fetchJob(origin);
      if (isFinishedStatus(job.status)) return undefined;
      this.deps.log.warn({ ...fields, status: job.status }, "a Job Hook says the job finished, GitLab's API does not; nothing freed");
      return `job ${jobId} is ${job.status} at GitLab; completion ignored`;
    } catch (error) {
      this.deps.log.warn({ ...fields, err: errorFields(error) }, "could not confirm the job's completion with GitLab's API; nothing freed");
      return `job ${jobId}: GitLab's API did not confirm the completion; ignored`;
    }
  }

  /** A pending job not recorded yet is queued with the tags GitLab's API gives, now or on a later read. */
  private async pending(origin: GitLabOrigin, jobId: string, fields: Delivery, onRetryable: OnRetryable): Promise<WebhookAnswer> {
    if (await this.deps.store.getJob(GITLAB, jobId)) return { status: 200, message: `job ${jobId} already recorded` };
    const jobFields = { ...fields, ci: GITLAB, jobId };
    try {
      return { status: 200, message: await this.admitPending(origin, jobId, fields) };
    } catch (error) {
      // Never a 5xx here: GitLab disables a webhook that answers 5xx (for a minute, growing to a day),
      // which would cost every later job of the project its runner.
      if (!isRetryable(error)) {
        this.deps.log.error({ ...jobFields, err: errorFields(error) }, 'GitLab refused to show the pending job; it gets no runner');
        return { status: 200, message: `job ${jobId} not launched: GitLab refused to show it; check the API token (read_api)` };
      }
      if (onRetryable === 'throw') {
        this.deps.log.warn(
          { ...jobFields, err: errorFields(error) },
          "could not read the pending job's tags from GitLab; the queue delivers it again",
        );
        throw error;
      }
      this.deps.log.warn(
        { ...jobFields, err: errorFields(error) },
        "could not read the pending job's tags from GitLab; reading them again later",
      );
      this.readLater(origin, jobId, fields);
      return { status: 202, message: `job ${jobId}: GitLab's API did not answer; fleetbot reads the job again later` };
    }
  }

  /** Reads the job's tags from GitLab and queues it if it still waits; says what happened. */
  private async admitPending(origin: GitLabOrigin, jobId: string, delivery: Delivery): Promise<string> {
    const job = await this.deps.source.fetchJob(origin);
    if (job.status !== 'pending') return `job ${jobId} is ${job.status} at GitLab; nothing to launch`;
    const queued = { ci: GITLAB, jobId, labels: job.tag_list, origin, queuedAt: gitlabQueuedAt(job) };
    const admission = await this.deps.sink.jobQueued(queued, delivery);
    return `job ${jobId} ${admission.kind}`;
  }

  /**
   * Tries a pending job again after each of `lateReadDelaysMs`, until GitLab answers, a resent delivery
   * has recorded it, or the waits run out; every way it ends without a runner is logged as an error.
   */
  private readLater(origin: GitLabOrigin, jobId: string, delivery: Delivery): void {
    if (this.lateReads.has(jobId)) return;
    const { log, store } = this.deps;
    const fields = { ...delivery, ci: GITLAB, jobId };
    const work = (async () => {
      for (const delayMs of this.lateReadDelaysMs) {
        await this.sleep(delayMs);
        if (this.stopped) {
          log.error(fields, "stopping before GitLab gave the pending job's tags: it gets no runner; resend its delivery");
          return;
        }
        if (await store.getJob(GITLAB, jobId)) return;
        try {
          log.info(fields, await this.admitPending(origin, jobId, delivery));
          return;
        } catch (error) {
          if (!isRetryable(error)) {
            log.error({ ...fields, err: errorFields(error) }, 'GitLab refused to show the pending job; it gets no runner');
            return;
          }
        }
      }
      log.error(fields, "GitLab's API never gave the pending job's tags: it gets no runner; resend its delivery");
    })()
      .catch((error: unknown) => log.error({ ...fields, err: errorFields(error) }, 'reading a pending job again failed'))
      .finally(() => this.lateReads.delete(jobId));
    this.lateReads.set(jobId, work);
  }
}

/** Fleets sharing a secret normally share an instance; if not, the project's URL says which one sent it. */
function connectionFor(connections: GitLabSettings[], projectUrl: string | undefined): GitLabSettings {
  return connections.find((connection) => projectUrl?.startsWith(`${connection.url}/`)) ?? connections[0]!;
}

class BodyTooLarge extends Error {}

function readBody(request: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // Keep draining (without keeping) the rest, so the 413 answer still reaches the sender.
      request.off('data', collect);
      request.resume();
      reject(new BodyTooLarge());
    };
    request.on('data', collect);
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.once('error', reject);
  });
}

/** The HTTP side of `POST /api/gitlab/webhooks`, as a Probot server handler: `webhooks` answers each delivery. */
export function gitlabWebhookHandler(webhooks: { receive(delivery: GitLabDelivery): Promise<WebhookAnswer> }, log: Logger) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    if (request.url?.split('?')[0] !== GITLAB_WEBHOOK_PATH) return false;
    const reply = ({ status, message }: WebhookAnswer, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ message }));
      return true;
    };
    if (request.method !== 'POST') return reply({ status: 405, message: 'POST only' }, { allow: 'POST' });
    let body: string;
    try {
      body = await readBody(request, GITLAB_WEBHOOK_MAX_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLarge) return reply({ status: 413, message: `the body exceeds ${GITLAB_WEBHOOK_MAX_BYTES} bytes` });
      throw error;
    }
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value]),
    );
    const delivery = gitlabDelivery({ headers, body });
    try {
      return reply(await webhooks.receive(delivery));
    } catch (error) {
      log.error({ deliveryId: delivery.eventUuid, err: errorFields(error) }, 'GitLab webhook failed');
      return reply({ status: 500, message: 'internal error; resend this delivery' });
    }
  };
}

/**
 * GitLab CI as a CI system: Job events on `POST /api/gitlab/webhooks` feed the sink, and the sweep
 * (gitlab-sweep.ts) admits pending jobs no Job Hook brought, at start and then every
 * `sweepIntervalMs` (undefined: only when asked, `pass()`). Each fleet's runners authenticate with the
 * fleet's runner token. With a queue, the route checks the token and queues the delivery, and `replay`
 * handles what a consumer takes from the queue.
 */
export function connectGitLab(options: {
  api: GitLabApi;
  secrets: SecretReader;
  lateReadDelaysMs?: readonly number[];
  sweepIntervalMs?: number;
}): CiConnector {
  return ({ fleets, store, log, addHandler, leases, queue }) => {
    const source = new GitLabSource(options.api, options.secrets);
    return {
      source,
      listen: (sink) => {
        const webhooks = new GitLabWebhooks({ source, fleets, store, sink, log, lateReadDelaysMs: options.lateReadDelaysMs });
        addHandler(gitlabWebhookHandler(queue ? queueingDoor(new GitLabWebhookTokens(fleets, source, log), queue, log) : webhooks, log));
        const periodicTask = 'gitlab-sweep';
        const sweep = gitlabSweepTask(new GitLabSweep({ source, fleets, store, sink, log }), log, taskLease(leases, periodicTask));
        const { sweepIntervalMs } = options;
        return {
          start: () => {
            if (sweepIntervalMs !== undefined) sweep.start(sweepIntervalMs);
          },
          pass: () => sweep.pass(),
          // A sweep turned off (FLEETBOT_GITLAB_SWEEP_SECONDS=0) is not run by ticks either.
          periodicTask: sweepIntervalMs === undefined ? undefined : periodicTask,
          idle: async () => {
            await sweep.idle();
            await webhooks.idle();
          },
          stop: async () => {
            webhooks.stop();
            await sweep.stop();
          },
          replay: (delivery) => webhooks.replay(delivery),
        };
      },
    };
  };
}

/** Deliveries whose token matches are queued (202); the rest are answered as without a queue. */
export function queueingDoor(tokens: GitLabWebhookTokens, queue: DeliveryQueue, log: Logger) {
  return {
    receive: async (delivery: GitLabDelivery): Promise<WebhookAnswer> => {
      const checked = await checkGitLabDelivery(tokens, delivery);
      return 'status' in checked ? checked : enqueueDelivery(queue, checked, log);
    },
  };
}
