import { UnknownFleetError } from '../operator/types.js';
import { csrfAccepted, identify, type Caller } from './access.js';
import { readForm, redirect, sendJson, wantsHtml } from './http.js';
import { parseJobQuery, parseRunnerQuery } from './queries.js';
import type { RouteContext } from './routes.js';

/**
 * The JSON API, for scripts and the CLI's `--url` mode: the dashboard's auth (a session cookie, or
 * `Authorization: Bearer $FLEETBOT_DASHBOARD_TOKEN`), and the operator's view as JSON.
 */

/** The caller, or the 401 already sent. */
function caller(context: RouteContext): Caller | undefined {
  const found = identify(context.deps.access, context.request, context.now);
  if (typeof found !== 'string') return found;
  const error = found === 'bad-token' ? 'that bearer token is not the dashboard token' : 'sign in, or send Authorization: Bearer <token>';
  sendJson(context.response, 401, { error }, { 'www-authenticate': 'Bearer realm="fleetbot"' });
  return undefined;
}

function invalidQuery(context: RouteContext, problems: string[]): true {
  return sendJson(context.response, 400, { error: 'invalid query', problems });
}

export async function apiStatus(context: RouteContext): Promise<true> {
  if (!caller(context)) return true;
  return sendJson(context.response, 200, await context.deps.view.status());
}

export async function apiJobs(context: RouteContext): Promise<true> {
  if (!caller(context)) return true;
  const query = parseJobQuery(context.url.searchParams);
  if (!query.ok) return invalidQuery(context, query.problems);
  return sendJson(context.response, 200, await context.deps.view.jobs(query.value));
}

export async function apiRunners(context: RouteContext): Promise<true> {
  if (!caller(context)) return true;
  const query = parseRunnerQuery(context.url.searchParams);
  if (!query.ok) return invalidQuery(context, query.problems);
  return sendJson(context.response, 200, await context.deps.view.runners(query.value));
}

/**
 * `POST /api/fleets/:name/drain|undrain` → `{ fleet, drained, changed }`. A session's request needs its CSRF
 * token (`x-csrf-token`, or the form's `_csrf`); a form posted from the page (it asks for HTML) is sent
 * back to the page.
 */
export function drainRoute(drain: boolean) {
  return async (context: RouteContext): Promise<true> => {
    const who = caller(context);
    if (!who) return true;
    if (!csrfAccepted(context.deps.access, who, context.request, await readForm(context.request))) {
      return sendJson(context.response, 403, {
        error: 'missing or wrong CSRF token (x-csrf-token header or _csrf field); reload the dashboard',
      });
    }
    const fleet = context.fleet!;
    try {
      const result = drain ? await context.deps.view.drain(fleet) : await context.deps.view.undrain(fleet);
      const by = who.kind === 'bearer' ? 'the dashboard token' : who.session.user;
      context.deps.log.info({ fleet, changed: result.changed }, `fleet ${fleet} ${drain ? 'drained' : 'undrained'} by ${by}`);
      return wantsHtml(context.request) ? redirect(context.response, '/dashboard') : sendJson(context.response, 200, result);
    } catch (error) {
      if (error instanceof UnknownFleetError) return sendJson(context.response, 404, { error: error.message });
      throw error;
    }
  };
}
