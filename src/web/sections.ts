import type { FleetCostDay, FleetOverview, IssueOpsRequestView, JobView, RunnerView, StatusView, WaitStats } from '../operator/types.js';
import { capacityBar, costBars, STEP_COLOURS, timelineBar, waitHistogram } from './charts.js';
import { markup, type Html } from './html.js';

/** The dashboard's sections, each a table (and its charts) of one part of the operator's view. */

export function duration(seconds: number | null): string {
  if (seconds === null) return '–';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

function time(at: number | null): string {
  return at === null ? '–' : new Date(at).toISOString().replace('T', ' ').slice(0, 19);
}

function dollars(amount: number | null): string {
  return amount === null ? '–' : `$${amount.toFixed(amount < 1 ? 3 : 2)}`;
}

/** The drain or undrain button; without a CSRF token (a bearer caller's page) there is none. */
function drainForm(fleet: FleetOverview, csrf: string | undefined): Html {
  if (csrf === undefined) return markup``;
  const action = fleet.drained ? 'undrain' : 'drain';
  return markup`<form method="post" action="/api/fleets/${encodeURIComponent(fleet.name)}/${action}">
<input type="hidden" name="_csrf" value="${csrf}">
<button type="submit" data-fleet="${fleet.name}">${fleet.drained ? 'Undrain' : 'Drain'}</button></form>`;
}

export function fleetsSection(fleets: FleetOverview[], csrf: string | undefined): Html {
  const rows = fleets.map(
    (fleet) => markup`<tr data-fleet="${fleet.name}"><td>${fleet.name}</td><td>${fleet.ci}</td><td>${fleet.compute}</td>
<td>${capacityBar(fleet.active, fleet.warm, fleet.maxRunners)}
<span class="active">${fleet.active}</span>/<span class="max">${fleet.maxRunners}</span>
(<span class="warm">${fleet.warm}</span> warm)</td><td class="waiting">${fleet.waiting}</td>
<td class="state state-${fleet.state}">${fleet.state}</td>
<td>${drainForm(fleet, csrf)}</td></tr>`,
  );
  return markup`<section id="fleets"><h2>Fleets</h2><table><thead><tr><th>Fleet</th><th>CI</th><th>Compute</th>
<th>Capacity (active/max)</th>
<th>Backlog</th><th>State</th><th></th></tr></thead>
<tbody>${rows.length ? rows : markup`<tr><td colspan="7">No fleets.</td></tr>`}</tbody></table></section>`;
}

function market(spot: boolean | null): string {
  return spot === null ? 'unknown' : spot ? 'spot' : 'on-demand';
}

export function runnersSection(runners: RunnerView[]): Html {
  const rows = runners.map(
    (runner) => markup`<tr><td>${runner.name}</td><td>${runner.fleet}</td><td>${runner.status}${runner.warm ? ' (warm)' : ''}</td>
<td>${duration(runner.ageSeconds)}</td><td>${runner.compute}</td><td>${market(runner.spot)}</td>
<td class="mono">${runner.computeId ?? '–'}</td></tr>`,
  );
  return markup`<section id="runners"><h2>Live runners (${runners.length})</h2><table><thead><tr><th>Runner</th><th>Fleet</th><th>State</th>
<th>Age</th><th>Compute</th><th>Market</th><th>Compute id</th></tr></thead>
<tbody>${rows.length ? rows : markup`<tr><td colspan="7">No runners.</td></tr>`}</tbody></table></section>`;
}

export function waitsSection(waits: WaitStats[]): Html {
  const rows = waits.map(
    (stats) => markup`<tr><td>${stats.fleet}</td><td>${stats.count}</td><td>${duration(stats.p50Seconds)}</td>
<td>${duration(stats.p95Seconds)}</td>
<td>${waitHistogram(stats)}</td></tr>`,
  );
  return markup`<section id="waits"><h2>Wait for a runner, last 24 h</h2><table><thead><tr><th>Fleet</th><th>Jobs</th><th>p50</th>
<th>p95</th>
<th>Histogram</th></tr></thead>
<tbody>${rows.length ? rows : markup`<tr><td colspan="5">No jobs started in the last 24 h.</td></tr>`}</tbody></table></section>`;
}

export function costSection(costs: FleetCostDay[]): Html {
  const days = [...new Set(costs.map((cost) => cost.day))].sort();
  const fleets = [...new Set(costs.map((cost) => cost.fleet))].sort();
  const amount = (fleet: string, day: string) => costs.find((cost) => cost.fleet === fleet && cost.day === day)?.dollars ?? 0;
  const rows = fleets.map((fleet) => {
    const perDay = days.map((day) => ({ day, dollars: amount(fleet, day) }));
    const cells = perDay.map((day) => markup`<td>${dollars(day.dollars)}</td>`);
    return markup`<tr><td>${fleet}</td>${cells}<td>${costBars(perDay)}</td></tr>`;
  });
  const header = days.map((day) => markup`<th>${day.slice(5)}</th>`);
  return markup`<section id="cost"><h2>Estimated cost per day (UTC)</h2><table><thead><tr><th>Fleet</th>${header}<th></th></tr></thead>
<tbody>${rows.length ? rows : markup`<tr><td>No runner cost recorded.</td></tr>`}</tbody></table></section>`;
}

/** Only http(s) links are made links: a URL from a store is still not trusted to be one. */
function link(url: string | null, text: string): Html {
  return url !== null && /^https?:\/\//.test(url) ? markup`<a href="${url}" rel="noreferrer">${text}</a>` : markup`${text}`;
}

export function requestsSection(requests: IssueOpsRequestView[]): Html {
  const rows = requests.map(
    (request) => markup`<tr><td>${link(request.issueUrl, `${request.repo}#${request.issueNumber}`)}</td>
<td>${request.prNumber === null ? '–' : link(request.prUrl, `#${request.prNumber}`)}</td><td>${request.kind}</td>
<td>${request.fleet ?? '–'}</td>
<td>${request.status}</td><td>${time(request.updatedAt)}</td></tr>`,
  );
  return markup`<section id="requests"><h2>IssueOps requests</h2><table><thead><tr><th>Issue</th><th>Pull request</th><th>Kind</th>
<th>Fleet</th>
<th>Status</th><th>Updated (UTC)</th></tr></thead>
<tbody>${rows.length ? rows : markup`<tr><td colspan="6">No requests.</td></tr>`}</tbody></table></section>`;
}

export function jobsSection(jobs: JobView[], now: number): Html {
  const rows = jobs.map(
    (job) => markup`<tr><td>${link(job.url, job.jobId)}</td><td>${job.ci}</td><td>${job.fleet ?? '–'}</td><td>${job.status}</td>
<td>${job.labels.join(', ')}</td><td>${job.runnerName ?? '–'}</td><td>${duration(job.waitSeconds)}</td>
<td>${dollars(job.costDollars)}</td>
<td>${timelineBar(job.timeline, now)}</td></tr>`,
  );
  const legend = (['waiting', 'launching', 'booting', 'running'] as const).map(
    (step) => markup`<span class="key" style="background:${STEP_COLOURS[step]}"></span>${step} `,
  );
  return markup`<section id="jobs"><h2>Last ${jobs.length} jobs</h2><p class="legend">Timeline: ${legend}</p><table><thead><tr>
<th>Job</th><th>CI</th><th>Fleet</th><th>State</th><th>Labels</th>
<th>Runner</th><th>Wait</th><th>Cost</th><th>Timeline</th></tr></thead>
<tbody>${rows.length ? rows : markup`<tr><td colspan="9">No jobs.</td></tr>`}</tbody></table></section>`;
}

export function tasksSection(status: StatusView): Html {
  const rows = status.tasks.map(
    (task) =>
      markup`<tr><td>${task.task}</td><td>${time(task.finishedAt)}</td><td>${task.ok ? 'ok' : 'failed'}</td><td>${task.holder}</td>
<td>${task.summary}</td></tr>`,
  );
  return markup`<section id="tasks"><h2>Periodic tasks</h2><table><thead><tr><th>Task</th><th>Last pass (UTC)</th><th>Outcome</th>
<th>Replica</th>
<th>Summary</th></tr></thead><tbody>${rows.length ? rows : markup`<tr><td colspan="5">No pass yet.</td></tr>`}</tbody></table></section>`;
}
