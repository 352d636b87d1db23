import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'probot';
import type { Registry } from 'prom-client';
import { errorFields } from '../errors.js';

export const METRICS_PATH = '/metrics';

/** Compares digests, which have one length whatever the token's: neither content nor length leaks through timing. */
function sameToken(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** `Authorization: Bearer <token>` carries the token; any other header (or none) does not. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * `GET /metrics` on the app's port (a Probot handler, as the GitLab webhook's route), in Prometheus' text
 * format. With `token` (FLEETBOT_METRICS_TOKEN), a request without `Authorization: Bearer <token>` gets 401.
 */
export function metricsHandler(registry: Registry, token: string | undefined, log: Logger) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    if (request.url?.split('?')[0] !== METRICS_PATH) return false;
    const reply = (status: number, body: string, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(body);
      return true;
    };
    if (request.method !== 'GET') return reply(405, 'GET only\n', { allow: 'GET' });
    if (token !== undefined) {
      const given = bearerToken(request.headers.authorization);
      if (given === undefined || !sameToken(given, token)) {
        return reply(401, 'a bearer token is required (FLEETBOT_METRICS_TOKEN)\n', {
          'www-authenticate': 'Bearer realm="fleetbot metrics"',
        });
      }
    }
    try {
      return reply(200, await registry.metrics(), { 'content-type': registry.contentType });
    } catch (error) {
      log.error({ err: errorFields(error) }, 'could not read the metrics');
      return reply(500, 'the metrics could not be read; see the log\n');
    }
  };
}
