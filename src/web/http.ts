import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Html } from './html.js';
import { CONTENT_SECURITY_POLICY } from './page.js';

/** Small helpers for the dashboard's routes, on Node's own request and response (Probot's server has no framework). */

// Pages and JSON about the fleets are not for caches or other sites' frames.
const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff' };

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): true {
  response
    .writeHead(status, { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8', ...headers })
    .end(JSON.stringify(body));
  return true;
}

export function sendHtml(response: ServerResponse, status: number, page: Html, headers: Record<string, string | string[]> = {}): true {
  const security = { ...COMMON_HEADERS, 'content-security-policy': CONTENT_SECURITY_POLICY };
  response.writeHead(status, { ...security, 'content-type': 'text/html; charset=utf-8', ...headers }).end(page.text);
  return true;
}

export function redirect(response: ServerResponse, location: string, headers: Record<string, string | string[]> = {}): true {
  response.writeHead(303, { ...COMMON_HEADERS, location, ...headers }).end();
  return true;
}

/** https as the browser sees it: TLS here, or a proxy in front that says so. */
export function isHttps(request: IncomingMessage): boolean {
  const forwarded = request.headers['x-forwarded-proto'];
  const proto = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  return proto === 'https' || Boolean((request.socket as { encrypted?: boolean }).encrypted);
}

/** Whether the caller wants a page back (a form posted from the dashboard) rather than JSON (a script). */
export function wantsHtml(request: IncomingMessage): boolean {
  return (request.headers.accept ?? '').includes('text/html');
}

const FORM_MAX_BYTES = 16 * 1024;

export class BodyError extends Error {}

/** An urlencoded form body (the dashboard's buttons); any other body is read as empty. */
export async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_MAX_BYTES) throw new BodyError(`the body exceeds ${FORM_MAX_BYTES} bytes`);
    chunks.push(chunk);
  }
  const type = request.headers['content-type'] ?? '';
  return type.startsWith('application/x-www-form-urlencoded')
    ? new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
    : new URLSearchParams();
}
