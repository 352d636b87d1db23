import type { IncomingMessage } from 'node:http';
import type { Logger, Probot } from 'probot';
import { omitFromAccessLog } from './log.js';

/** Where Probot serves GitHub's webhooks (its default; fleetbot does not move it). */
export const GITHUB_WEBHOOK_PATH = '/api/github/webhooks';

// Probot's own type: the guard stands in for its middleware.
type NodeMiddleware = Awaited<ReturnType<Probot['getNodeMiddleware']>>;

const JSON_CONTENT = /^\s*application\/json\s*(?:;|$)/u;

/**
 * A delivery whose signature does not match WEBHOOK_SECRET is answered 400 and logged in one short line
 * (delivery id, event, source address). Left to Probot, it is logged three times with its whole payload,
 * which anyone who can reach the URL could use to fill the logs.
 *
 * Probot's server asks the Probot for its webhook middleware once the app is loaded; the middleware it
 * gets checks signatures first and hands the rest, body already read, to Probot's own.
 */
export function refuseMisSignedDeliveries(probot: Probot, log: Logger, path = GITHUB_WEBHOOK_PATH): void {
  const probotMiddleware = probot.getNodeMiddleware.bind(probot);
  probot.getNodeMiddleware = async (options) => {
    const inner = (await probotMiddleware(options)) as NodeMiddleware;
    const guarded: NodeMiddleware = async (request, response, next) => {
      const delivery = signedDelivery(request, options?.path ?? path);
      if (!delivery) return inner(request, response, next);
      const body = await readBody(request);
      if (await probot.webhooks.verify(body, delivery.signature).catch(() => false)) {
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
        'webhook signature does not match WEBHOOK_SECRET; delivery refused with 400',
      );
      omitFromAccessLog(response);
      response
        .writeHead(400, { 'content-type': 'application/json' })
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
  if (request.method !== 'POST' || pathnameOf(request.url) !== path) return undefined;
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

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
