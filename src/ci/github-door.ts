import { createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_WEBHOOK_BYTES, type VerifiedDelivery, type WebhookAnswer, type WebhookRequest } from '../deliveries.js';

const JSON_CONTENT = /^\s*application\/json\s*(?:;|$)/u;

/**
 * A GitHub delivery checked as Probot's middleware checks it, without Probot (the Lambda front door loads
 * nothing else): its headers, its size, and its `X-Hub-Signature-256`, an HMAC-SHA256 of the body with
 * the webhook secret, compared in constant time. Refusals are 400 as Probot's, 413 over GitHub's cap.
 */
export function checkGitHubDelivery(secret: string, request: WebhookRequest): VerifiedDelivery | WebhookAnswer {
  const { 'x-github-delivery': id, 'x-github-event': event, 'x-hub-signature-256': signature } = request.headers;
  if (!id || !event || !signature) {
    return { status: 400, message: 'missing X-GitHub-Delivery, X-GitHub-Event or X-Hub-Signature-256' };
  }
  if (!JSON_CONTENT.test(request.headers['content-type'] ?? '')) return { status: 400, message: 'content-type must be application/json' };
  if (Buffer.byteLength(request.body) > MAX_WEBHOOK_BYTES) return { status: 413, message: `payload over ${MAX_WEBHOOK_BYTES} bytes` };
  if (!signatureMatches(secret, request.body, signature)) {
    return { status: 401, message: 'signature does not match event payload and secret' };
  }
  return { ci: 'github', id, event, body: request.body };
}

function signatureMatches(secret: string, body: string, signature: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const presented = Buffer.from(signature);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}
