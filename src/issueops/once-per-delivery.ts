import type { Logger } from 'probot';
import type { DeliveryLog } from '../store/types.js';

/**
 * Runs an IssueOps handler once per delivery GUID. GitHub keeps a delivery's GUID when it delivers it
 * again (delivery recovery, or someone pressing "Redeliver"), and a comment's command or an issue's edit
 * must not run twice. A handler that fails gives its claim back, so the delivery can be made again.
 */
export async function oncePerDelivery(
  deliveries: DeliveryLog,
  guid: string,
  handle: () => unknown,
  log: Logger,
  now: () => number = Date.now,
): Promise<void> {
  if (!(await deliveries.claimHandling(guid, now()))) {
    log.info({ deliveryId: guid }, 'delivery already handled; ignored');
    return;
  }
  try {
    await handle();
  } catch (error) {
    await deliveries.releaseHandling(guid);
    throw error;
  }
}
