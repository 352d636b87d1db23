import type { Logger } from 'probot';
import { errorFields } from './errors.js';

/**
 * Webhook deliveries checked at the door and queued (FLEETBOT_QUEUE_URL): the door verifies who sent
 * them and answers 202; a consumer hands them, as they came, to the handlers an unqueued delivery reaches.
 */

/** Where GitHub's webhooks arrive (Probot's default; fleetbot does not move it). */
export const GITHUB_WEBHOOK_PATH = '/api/github/webhooks';

/** GitHub caps a webhook payload at 25 MiB; a larger body is not GitHub's, and is refused before it is buffered. */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

/** A webhook request as a door sees it, from the app's HTTP server or a Lambda function URL. */
export interface WebhookRequest {
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | undefined>>;
  body: string;
}

/** What the sender is told. */
export interface WebhookAnswer {
  status: number;
  message: string;
}

/** A delivery whose sender was verified (signature, token) where it arrived. */
export interface VerifiedDelivery {
  ci: 'github' | 'gitlab';
  /** GitHub's X-GitHub-Delivery, GitLab's X-Gitlab-Event-UUID. */
  id?: string;
  /** GitHub's X-GitHub-Event, GitLab's X-Gitlab-Event. */
  event: string;
  /** The body as received: JSON text. */
  body: string;
  /** What the check matched that handling needs: the parameters of the GitLab webhook secrets the token equals. */
  matched?: string[];
}

/** Where verified deliveries go instead of being handled, when the app runs with a queue. */
export interface DeliveryQueue {
  /** Throws DeliveryTooLarge for a delivery the queue cannot carry. */
  send(delivery: VerifiedDelivery): Promise<void>;
}

export class DeliveryTooLarge extends Error {
  override name = 'DeliveryTooLarge';

  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`the delivery takes ${bytes} bytes queued, over the queue's ${limit}`);
  }
}

/**
 * Queues a verified delivery and says so with 202. One the queue cannot carry is refused with 413 and
 * logged as an error (the sender's delivery log shows it failed); a queue that fails answers 503, so
 * that the sender tries again (GitHub's delivery recovery redelivers it).
 */
export async function enqueueDelivery(queue: DeliveryQueue, delivery: VerifiedDelivery, log: Logger): Promise<WebhookAnswer> {
  const fields = { deliveryId: delivery.id, ci: delivery.ci, event: delivery.event };
  try {
    await queue.send(delivery);
  } catch (error) {
    if (error instanceof DeliveryTooLarge) {
      log.error({ ...fields, bytes: error.bytes, limit: error.limit }, `${error.message}; delivery refused with 413`);
      return { status: 413, message: `${error.message}; not queued` };
    }
    log.error({ ...fields, err: errorFields(error) }, 'could not queue the delivery; answered 503');
    return { status: 503, message: 'the delivery could not be queued; send it again' };
  }
  log.debug(fields, 'delivery queued');
  return { status: 202, message: 'queued' };
}
