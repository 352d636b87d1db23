import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'probot';
import { errorFields } from '../errors.js';
import { omitFromAccessLog } from '../log.js';
import type { OperatorView } from '../operator/types.js';
import { identify, type DashboardAccess } from './access.js';
import { apiJobs, apiRunners, apiStatus, drainRoute } from './api.js';
import { BodyError, sendHtml, sendJson } from './http.js';
import { dashboardPage, liveSections, loadDashboard, messagePage, signInPage } from './page.js';
import { parsePageQuery } from './queries.js';
import { csrfToken } from './session.js';
import { logout, oauthCallback, startSignIn, tokenLink } from './sign-in.js';

export interface DashboardDeps {
  view: OperatorView;
  access: DashboardAccess;
  log: Logger;
  now?: () => number;
}

/** What a route gets: the request, its URL, and the dashboard's dependencies with the time of the request. */
export interface RouteContext {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  deps: DashboardDeps;
  now: number;
  /** The `:name` of `/api/fleets/:name/…`. */
  fleet?: string;
}

type Route = (context: RouteContext) => Promise<true>;

const ROUTES: Record<string, Partial<Record<string, Route>>> = {
  '/dashboard': { GET: page },
  '/dashboard/live': { GET: live },
  '/dashboard/login': { GET: startSignIn },
  '/dashboard/oauth/callback': { GET: oauthCallback },
  '/dashboard/logout': { POST: logout },
  '/api/status': { GET: apiStatus },
  '/api/jobs': { GET: apiJobs },
  '/api/runners': { GET: apiRunners },
};
const FLEET_ACTION = /^\/api\/fleets\/([^/]+)\/(drain|undrain)$/;

function match(pathname: string): { methods: Partial<Record<string, Route>>; fleet?: string } | undefined {
  const action = FLEET_ACTION.exec(pathname);
  if (action) return { methods: { POST: drainRoute(action[2] === 'drain') }, fleet: decodeURIComponent(action[1]!) };
  const methods = ROUTES[pathname];
  return methods && { methods };
}

/**
 * The dashboard's and the JSON API's routes, as a Probot server handler (`addHandler`): the pages here
 * and in sign-in.ts, the API in api.ts. Other paths are left to the next handler.
 */
export function dashboardHandler(deps: DashboardDeps) {
  const now = deps.now ?? Date.now;
  return async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    const url = new URL(request.url ?? '/', 'http://fleetbot.invalid');
    let matched: ReturnType<typeof match>;
    try {
      matched = match(url.pathname);
    } catch {
      // A fleet name that is not valid percent-encoding names no fleet.
      return sendJson(response, 404, { error: 'no such fleet' });
    }
    if (!matched) return false;
    const route = matched.methods[request.method ?? 'GET'];
    if (!route) return notAllowed(response, Object.keys(matched.methods));
    try {
      return await route({ request, response, url, deps, now: now(), fleet: matched.fleet });
    } catch (error) {
      if (error instanceof BodyError) return sendJson(response, 413, { error: error.message });
      deps.log.error({ err: errorFields(error), path: url.pathname }, 'dashboard request failed');
      if (!response.headersSent) return sendJson(response, 500, { error: 'internal error; see the app log' });
      response.end();
      return true;
    }
  };
}

function notAllowed(response: ServerResponse, allow: string[]): true {
  return sendJson(response, 405, { error: `${allow.join(' or ')} only` }, { allow: allow.join(', ') });
}

/** A page for someone not let in; 401 either way, the sign-in page saying why. */
function refuse(context: RouteContext, message?: string): true {
  const gitHub = context.deps.access.gitHub !== undefined && context.deps.access.gitHub.allow.length > 0;
  return sendHtml(context.response, 401, signInPage({ gitHub, message }), { 'www-authenticate': 'Bearer realm="fleetbot"' });
}

async function page(context: RouteContext): Promise<true> {
  const { url, request, deps } = context;
  if (url.searchParams.has('token')) {
    omitFromAccessLog(context.response);
    return tokenLink(context);
  }
  const caller = identify(deps.access, request, context.now);
  if (caller === 'bad-token') return refuse(context, 'That token is not the dashboard token.');
  if (caller === 'anonymous') return refuse(context);
  const filters = parsePageQuery(url.searchParams);
  if (!filters.ok) return sendHtml(context.response, 400, messagePage(`Invalid filters: ${filters.problems.join('; ')}`));
  const data = await loadDashboard(deps.view, filters.value, context.now);
  const viewer =
    caller.kind === 'bearer' ? { user: 'token' } : { user: caller.session.user, csrf: csrfToken(deps.access.sessionKey, caller.session) };
  return sendHtml(context.response, 200, dashboardPage(data, viewer, filters.value, context.now));
}

/** The sections the page's script swaps in every few seconds, with the page's filters. */
async function live(context: RouteContext): Promise<true> {
  const caller = identify(context.deps.access, context.request, context.now);
  if (typeof caller === 'string') return sendJson(context.response, 401, { error: 'sign in again' });
  const filters = parsePageQuery(context.url.searchParams);
  if (!filters.ok) return sendJson(context.response, 400, { error: 'invalid query', problems: filters.problems });
  const data = await loadDashboard(context.deps.view, filters.value, context.now);
  const csrf = caller.kind === 'session' ? csrfToken(context.deps.access.sessionKey, caller.session) : undefined;
  return sendHtml(context.response, 200, liveSections(data, csrf, context.now));
}
