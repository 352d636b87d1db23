import type { Logger } from 'probot';
import { classifyGitHubError, type InstallationOctokit } from '../github-client.js';
import type { TaskLease } from '../lease-keeper.js';
import { PeriodicTask } from '../periodic-task.js';
import { errorFields } from '../errors.js';
import { withRetry, type RetryPolicy } from '../retry.js';
import type { DeliveryLog } from '../store/types.js';

/**
 * Recovery of webhook deliveries GitHub could not make (the app down, restarting, or answering an error):
 * GitHub never retries them on its own. A pass reads the App's delivery log back to a watermark and asks
 * GitHub to redeliver each failed one that nothing delivered since, so it comes in again signed, through
 * every handler, as if it had arrived on time.
 */

/** One entry of `GET /app/hook/deliveries`, as GitHub documents it (the fields recovery reads). */
export interface HookDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  /** 0 when GitHub got no answer at all (refused connection, timeout). */
  status_code: number;
  event: string;
  action: string | null;
}

/** The App's deliveries API, authenticated as the App (JWT). */
export interface DeliveriesApi {
  /** Every delivery, newest first, a page at a time; the caller stops reading when it has seen enough. */
  pages(): AsyncIterable<HookDelivery[]>;
  /** Asks GitHub to make the delivery again (same GUID, `redelivery: true`). */
  redeliver(deliveryId: number): Promise<void>;
}

/** The events the App handles: jobs, and IssueOps' issues, comments and pull requests. */
export const RECOVERED_EVENTS: ReadonlySet<string> = new Set(['workflow_job', 'issues', 'issue_comment', 'pull_request']);
/** GitHub keeps deliveries this long; reading further back finds nothing. */
export const DELIVERY_RETENTION_MS = 3 * 24 * 3600_000;
// Deliveries made while the last pass was reading may be listed late; reading a minute before where it
// started costs a few entries, and recovered GUIDs are never redelivered twice.
const WATERMARK_OVERLAP_MS = 60_000;

export function failed(delivery: Pick<HookDelivery, 'status_code'>): boolean {
  return delivery.status_code === 0 || delivery.status_code >= 400;
}

/**
 * The deliveries to redeliver, from a newest-first list: the latest attempt of each GUID, when it failed.
 * A failure followed by a successful attempt of the same GUID was fixed already and is left alone.
 */
export function needingRecovery(newestFirst: readonly HookDelivery[]): HookDelivery[] {
  const latestByGuid = new Map<string, HookDelivery>();
  for (const delivery of newestFirst) if (!latestByGuid.has(delivery.guid)) latestByGuid.set(delivery.guid, delivery);
  return [...latestByGuid.values()].filter(failed);
}

export interface RecoveryPass {
  /** Deliveries read back to the watermark. */
  read: number;
  recovered: { guid: string; event: string; action: string | null }[];
  /** Redeliveries GitHub refused; they are tried again next pass. */
  refused: number;
}

export interface RecoveryOptions {
  api: DeliveriesApi;
  deliveries: DeliveryLog;
  log: Logger;
  now?: () => number;
  /** Hears of each delivery GitHub was asked to redeliver, by its event (the app's metrics). */
  onRecovered?: (event: string) => void;
}

/** One pass: read back to the watermark (3 days at most), redeliver what needs it, move the watermark. */
export async function recoverDeliveries({ api, deliveries, log, now = Date.now, onRecovered }: RecoveryOptions): Promise<RecoveryPass> {
  const startedAt = now();
  const oldest = startedAt - DELIVERY_RETENTION_MS;
  const since = Math.max((await deliveries.recoveryWatermark()) ?? oldest, oldest);
  const read: HookDelivery[] = [];
  reading: for await (const page of api.pages()) {
    for (const delivery of page) {
      if (Date.parse(delivery.delivered_at) < since) break reading;
      read.push(delivery);
    }
  }
  const pass: RecoveryPass = { read: read.length, recovered: [], refused: 0 };
  // A redelivery GitHub refused keeps the watermark at or before it, so the next pass sees it again.
  let watermark = startedAt - WATERMARK_OVERLAP_MS;
  for (const delivery of needingRecovery(read)) {
    if (!RECOVERED_EVENTS.has(delivery.event) || (await deliveries.wasRecovered(delivery.guid))) continue;
    try {
      await api.redeliver(delivery.id);
    } catch (error) {
      pass.refused++;
      watermark = Math.min(watermark, Date.parse(delivery.delivered_at));
      log.warn({ deliveryId: delivery.guid, err: errorFields(error) }, `redelivery of ${delivery.event} delivery ${delivery.id} failed`);
      continue;
    }
    await deliveries.markRecovered(delivery.guid, startedAt);
    pass.recovered.push({ guid: delivery.guid, event: delivery.event, action: delivery.action });
    onRecovered?.(delivery.event);
  }
  await deliveries.setRecoveryWatermark(Math.max(watermark, since));
  await deliveries.pruneBefore(oldest);
  if (pass.recovered.length > 0 || pass.refused > 0) {
    const byEvent: Record<string, number> = {};
    for (const { event } of pass.recovered) byEvent[event] = (byEvent[event] ?? 0) + 1;
    log.info(
      { deliveryRecovery: { read: pass.read, recovered: pass.recovered.length, refused: pass.refused, byEvent } },
      `asked GitHub to redeliver ${pass.recovered.length} failed webhook deliveries`,
    );
  }
  return pass;
}

/** The deliveries API through an App-authenticated Octokit (`probot.auth()` with no installation id). */
export function octokitDeliveriesApi(appOctokit: () => Promise<InstallationOctokit>, retry: RetryPolicy): DeliveriesApi {
  return {
    async *pages() {
      const octokit = await appOctokit();
      // Octokit follows the `Link` header's rel="next", which carries GitHub's cursor.
      for await (const response of octokit.paginate.iterator('GET /app/hook/deliveries', { per_page: 100 })) {
        yield response.data as HookDelivery[];
      }
    },
    async redeliver(deliveryId) {
      const octokit = await appOctokit();
      await withRetry(
        () => octokit.request('POST /app/hook/deliveries/{delivery_id}/attempts', { delivery_id: deliveryId }),
        retry,
        classifyGitHubError,
      );
    },
  };
}

/** Recovery at start and then every `intervalMs`, never two passes at once (nor two replicas, with a lease). */
export function deliveryRecovery(options: RecoveryOptions, lease?: TaskLease): PeriodicTask<RecoveryPass> {
  return new PeriodicTask(
    () => recoverDeliveries(options),
    (error) => options.log.warn({ err: errorFields(error) }, 'webhook delivery recovery failed; trying again next period'),
    lease,
  );
}
