import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import type { VerifiedDelivery } from '../deliveries.js';

/**
 * The most a queued message may take. SQS queues made before August 2025 keep a 256 KiB limit (newer
 * ones default to 1 MiB); fleetbot holds to the lower one, so any queue carries what it sends.
 */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * One delivery as a message: its fields, and its body gzipped and in base64. JSON compresses five to ten
 * times, so a GitHub payload of a megabyte or two fits; a `workflow_job` (a few KiB) always does.
 */
const messageSchema = z.object({
  v: z.literal(1),
  ci: z.enum(['github', 'gitlab']),
  id: z.string().optional(),
  event: z.string(),
  matched: z.array(z.string()).optional(),
  gzippedBody: z.string(),
});

export function encodeDelivery(delivery: VerifiedDelivery): string {
  const { body, ...fields } = delivery;
  const message: z.infer<typeof messageSchema> = { v: 1, ...fields, gzippedBody: gzipSync(body).toString('base64') };
  return JSON.stringify(message);
}

/** Throws on a message fleetbot did not write. */
export function decodeDelivery(text: string): VerifiedDelivery {
  const { v: _version, gzippedBody, ...fields } = messageSchema.parse(JSON.parse(text));
  return { ...fields, body: gunzipSync(Buffer.from(gzippedBody, 'base64')).toString('utf8') };
}
