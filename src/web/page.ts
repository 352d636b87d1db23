import { createHash } from 'node:crypto';
import type { FleetCostDay, IssueOpsRequestView, JobQuery, JobView, OperatorView, StatusView, WaitStats } from '../operator/types.js';
import { CI_SYSTEMS } from '../fleets/spec.js';
import { markup, Html } from './html.js';
import { JOB_STATUSES } from '../store/types.js';
import { costSection, fleetsSection, jobsSection, requestsSection, runnersSection, tasksSection, waitsSection } from './sections.js';

/** The dashboard page, rendered on the server from the operator's view. */

const JOBS_SHOWN = 200;
const WAIT_WINDOW_MS = 24 * 3_600_000;
const COST_DAYS = 7;
const REQUESTS_SHOWN = 50;
const REFRESH_SECONDS = 10;

export interface DashboardData {
  status: StatusView;
  jobs: JobView[];
  waits: WaitStats[];
  costs: FleetCostDay[];
  requests: IssueOpsRequestView[];
}

/** Everything the page shows, read at once. */
export async function loadDashboard(view: OperatorView, filters: JobQuery, now: number): Promise<DashboardData> {
  const [status, jobs, waits, costs, requests] = await Promise.all([
    view.status(),
    view.jobs({ ...filters, limit: JOBS_SHOWN }),
    view.waitStats(now - WAIT_WINDOW_MS),
    view.costPerDay(now - COST_DAYS * 86_400_000),
    view.issueOpsRequests(REQUESTS_SHOWN),
  ]);
  return { status, jobs, waits, costs, requests };
}

/** The part of the page that refreshes itself: everything but the header and the job filters. */
export function liveSections(data: DashboardData, csrf: string | undefined, now: number): Html {
  return markup`<p class="generated">Generated ${new Date(data.status.generatedAt).toISOString()}</p>
${fleetsSection(data.status.fleets, csrf)}${runnersSection(data.status.runners)}${waitsSection(data.waits)}${costSection(data.costs)}
${jobsSection(data.jobs, now)}${requestsSection(data.requests)}${tasksSection(data.status)}`;
}

/**
 * The page's only script: every REFRESH_SECONDS it fetches the live sections with the page's own filters
 * and swaps them in; a 401 (the session expired) reloads to the sign-in page. Without JavaScript the
 * page reloads itself (the <noscript> refresh).
 */
const REFRESH_SCRIPT = `const live = document.getElementById('live');
setInterval(async () => {
  try {
    const response = await fetch('/dashboard/live' + location.search, { credentials: 'same-origin' });
    if (response.status === 401) location.reload();
    else if (response.ok) live.innerHTML = await response.text();
  } catch {}
}, ${REFRESH_SECONDS * 1000});`;

/** No other origin, no plugins, forms post here; the one script by its hash rather than any inline script. */
export const CONTENT_SECURITY_POLICY =
  `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${createHash('sha256').update(REFRESH_SCRIPT).digest('base64')}'; ` +
  "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#111827;background:#f9fafb}
header{display:flex;gap:1em;align-items:center;padding:.6em 1.2em;background:#111827;color:#f9fafb}
header h1{font-size:1.1em;margin:0;flex:1}
header form{margin:0}main,.filters{padding:0 1.2em}section{margin:1em 0}h2{font-size:1em;margin:.4em 0}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{padding:.25em .6em;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:middle}
td form{margin:0}.mono{font-family:ui-monospace,monospace;font-size:12px}.generated{color:#6b7280;font-size:12px}
.legend{font-size:12px;color:#4b5563}.key{display:inline-block;width:10px;height:10px;margin:0 3px 0 8px}
.state-full{color:#b45309}.state-drained,.state-deleting{color:#b91c1c}`;

function page(title: string, body: Html, head: Html = markup``): Html {
  return markup`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title}</title><style>${new Html(STYLE)}</style>${head}</head><body>${body}</body></html>`;
}

function select(name: string, label: string, options: readonly string[], chosen: string | undefined): Html {
  const choices = options.map(
    (option) => markup`<option value="${option}"${new Html(option === chosen ? ' selected' : '')}>${option}</option>`,
  );
  return markup`<label>${label} <select name="${name}"><option value="">all</option>${choices}</select></label>`;
}

function filtersForm(fleets: string[], filters: JobQuery): Html {
  return markup`<form class="filters" method="get" action="/dashboard">Jobs: ${select('fleet', 'fleet', fleets, filters.fleet)}
${select('ci', 'CI', CI_SYSTEMS, filters.ci)} ${select('state', 'state', JOB_STATUSES, filters.status)}
<button type="submit">Filter</button></form>`;
}

/** The whole page; `csrf` is absent for a bearer caller, whose page has no buttons. */
export function dashboardPage(data: DashboardData, viewer: { user: string; csrf?: string }, filters: JobQuery, now: number): Html {
  const signOut =
    viewer.csrf === undefined
      ? markup``
      : markup`<form method="post" action="/dashboard/logout"><input type="hidden" name="_csrf" value="${viewer.csrf}">
<button type="submit">Sign out</button></form>`;
  const fleetNames = data.status.fleets.map((fleet) => fleet.name);
  const body = markup`<header><h1>fleetbot</h1><span>${viewer.user}</span>${signOut}</header>
${filtersForm(fleetNames, filters)}
<main id="live">${liveSections(data, viewer.csrf, now)}</main><script>${new Html(REFRESH_SCRIPT)}</script>`;
  return page('fleetbot dashboard', body, markup`<noscript><meta http-equiv="refresh" content="${REFRESH_SECONDS * 3}"></noscript>`);
}

/** What someone not signed in sees: GitHub sign-in when it is configured, and a word about the token. */
export function signInPage(options: { gitHub: boolean; message?: string }): Html {
  const gitHub = options.gitHub
    ? markup`<p><a id="sign-in" href="/dashboard/login">Sign in with GitHub</a></p>`
    : markup`<p>GitHub sign-in is not configured (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and
<code>dashboard.allow</code> in the fleets file).</p>`;
  const message = options.message === undefined ? markup`` : markup`<p class="message" role="alert">${options.message}</p>`;
  const body = markup`<header><h1>fleetbot</h1></header><main>${message}${gitHub}
<p>Kiosks and scripts: <code>Authorization: Bearer $FLEETBOT_DASHBOARD_TOKEN</code>,
or a link <code>/dashboard?token=…</code>.</p></main>`;
  return page('fleetbot: sign in', body);
}

/** A page that only says what went wrong (a signed-in caller's bad filter). */
export function messagePage(message: string): Html {
  return page(
    'fleetbot',
    markup`<header><h1>fleetbot</h1></header><main><p class="message" role="alert">${message}</p>
<p><a href="/dashboard">Back to the dashboard</a></p></main>`,
  );
}
