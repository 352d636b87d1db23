import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger, Probot } from 'probot';
import { enqueueDelivery, GITHUB_WEBHOOK_PATH, MAX_WEBHOOK_BYTES, type DeliveryQueue } from './deliveries.js';
import { omitFromAccessLog } from './log.js';

// Probot's own type: the guard stands in for its middleware.
type NodeMiddleware = Awaited<ReturnType<Probot['getNodeMiddleware']>>;

const JSON_CONTENT = /^\s*application\/json\s*(?:;|$)/u;

// How long a refused sender has to read its 413 before the connection is closed.
const LINGER_MS = 1_000;

/**
 * A body over MAX_WEBHOOK_BYTES is answered 413 as soon as its `content-length` or the bytes read so far
 * say so, and the connection is closed, so that nobody can make the app buffer gigabytes.
 *
 * A delivery whose signature does not match WEBHOOK_SECRET is answered 401 (its sender could not prove
 * it knows the secret) and logged in one short line
 * (delivery id, event, source address). Left to Probot, it is logged three times with its whole payload,
 * which anyone who can reach the URL could use to fill the logs.
 *
 * Probot's server asks the Probot for its webhook middleware once the app is loaded; the middleware it
 * gets checks signatures first and hands the rest, body already read, to Probot's own. With a `queue`,
 * a verified delivery is queued and answered 202 instead (a queue consumer hands it to Probot later).
 */
export function refuseMisSignedDeliveries(probot: Probot, log: Logger, queue?: DeliveryQueue, path = GITHUB_WEBHOOK_PATH): void {
  const probotMiddleware = probot.getNodeMiddleware.bind(probot);
  probot.getNodeMiddleware = async (options) => {
    const inner = (await probotMiddleware(options)) as NodeMiddleware;
    const guarded: NodeMiddleware = async (request, response, next) => {
      const webhookPath = options?.path ?? path;
      if (isWebhookPost(request, webhookPath) && declaredLength(request) > MAX_WEBHOOK_BYTES) {
        return refuseOversize(request, response, log, declaredLength(request));
      }
      const delivery = signedDelivery(request, webhookPath);
      if (!delivery) return inner(request, response, next);
      const body = await readBody(request, MAX_WEBHOOK_BYTES);
      if (body === undefined) return refuseOversize(request, response, log, undefined, delivery.id);
      if (await probot.webhooks.verify(body, delivery.signature).catch(() => false)) {
        if (queue) {
          const answer = await enqueueDelivery(queue, { ci: 'github', id: delivery.id, event: delivery.event, body }, log);
          response.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify({ message: answer.message }));
          return true;
        }
        // Probot's middleware takes a body already read from `body`.
        (request as IncomingMessage & { body?: string }).body = body;
        return inner(request, response, next);
      }
      const forwardedFor = request.headers['x-forwarded-for'];
      log.warn(
        {
          deliveryId: delivery.id,
          event: delivery.event,
          source: request.socket.remoteAddress,
          ...(forwardedFor ? { forwardedFor } : {}),
          bytes: Buffer.byteLength(body),
        },
        'webhook signature does not match WEBHOOK_SECRET; delivery refused with 401',
      );
      omitFromAccessLog(response);
      response
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'signature does not match event payload and secret' }));
      return true;
    };
    return guarded;
  };
}

/**
 * A signed GitHub delivery to the webhook path; anything else (no signature, wrong content type, another
 * path) is Probot's to answer, and it logs no payload for those.
 */
function signedDelivery(request: IncomingMessage, path: string): { id: string; event: string; signature: string } | undefined {
  if (!isWebhookPost(request, path)) return undefined;
  const {
    'x-github-delivery': id,
    'x-github-event': event,
    'x-hub-signature-256': signature,
    'content-type': contentType,
  } = request.headers;
  if (typeof id !== 'string' || typeof event !== 'string' || typeof signature !== 'string') return undefined;
  if (!JSON_CONTENT.test(contentType ?? '')) return undefined;
  return { id, event, signature };
}

function pathnameOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
  } catch {
    return undefined;
  }
}

function isWebhookPost(request: IncomingMessage, path: string): boolean {
  return request.method === 'POST' && pathnameOf(request.url) === path;
}

function declaredLength(request: IncomingMessage): number {
  const length = Number(request.headers['content-length']);
  return Number.isFinite(length) ? length : 0;
}

function refuseOversize(
  request: IncomingMessage,
  response: ServerResponse,
  log: Logger,
  declaredBytes: number | undefined,
  deliveryId = request.headers['x-github-delivery'],
): true {
  log.warn(
    { deliveryId, source: request.socket.remoteAddress, ...(declaredBytes === undefined ? {} : { declaredBytes }) },
    `webhook body over ${MAX_WEBHOOK_BYTES} bytes; refused with 413`,
  );
  omitFromAccessLog(response);
  // The connection closes shortly after the answer: not at once, for a sender still writing would then get a
  // reset before it could read the 413; and meanwhile nothing more of the body is kept.
  response.once('finish', () => setTimeout(() => request.socket.destroy(), LINGER_MS).unref());
  response.writeHead(413, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `payload over ${MAX_WEBHOOK_BYTES} bytes` }));
  return true;
}

/** The body as text, or undefined as soon as it passes `limit` bytes (reading stops there, the stream paused). */
function readBody(request: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= limit) return void chunks.push(chunk);
      request.off('data', onData).pause();
      chunks.length = 0;
      resolve(undefined);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.once('error', reject);
  });
}
