/**
 * `npm run bench` (part): how long `/dashboard` takes to render with 100,000 jobs behind the view and 200
 * shown, with 20 fleets, 500 live runners, their wait histograms, 7 days of cost and 50 IssueOps requests.
 * Two numbers: the render alone (the page built from the view's answers), and a whole `GET /dashboard`
 * through the app's own server (auth by the bearer token, the view's reads, the render, the response).
 * Both on the tests' in-memory OperatorView (its reads filter the 100,000 jobs in memory); then the whole
 * GET again on the app's own view (src/operator) over a SQLite store holding 100,000 jobs: 90,000 finished
 * over the last day with their timelines and runners, 500 running and 9,500 waiting. BENCH_DASHBOARD_JOBS
 * and BENCH_DASHBOARD_ROUNDS adjust it. Prints numbers; asserts nothing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { estimateRunnerCost } from '../src/cost/estimate.js';
import { FleetRegistry } from '../src/fleets/registry.js';
import { createOperatorView } from '../src/operator/view.js';
import type { OperatorView } from '../src/operator/types.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { loadDashboard, dashboardPage } from '../src/web/page.js';
import { startDashboardApp } from '../test/helpers/web/dashboard-app.js';
import { ecsFleet } from '../test/helpers/fleets.js';
import { FakeOperatorView, fleet, job, runner, waitStats } from '../test/helpers/web/fake-operator-view.js';
import { writeFinishedHistory } from './stored-history.js';

const JOBS = Number(process.env.BENCH_DASHBOARD_JOBS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_DASHBOARD_ROUNDS ?? 50);
const FLEETS = 20;
const TOKEN = 'bench-dashboard-token-0123456789';

function view(now: number): FakeOperatorView {
  const fleets = Array.from({ length: FLEETS }, (_, index) => fleet(`fleet-${index}`, { active: index, warm: index % 3, maxRunners: 50 }));
  const runners = Array.from({ length: 500 }, (_, index) => runner(`fleet-${index % FLEETS}-${index}-abcdef`, `fleet-${index % FLEETS}`));
  const jobs = Array.from({ length: JOBS }, (_, index) =>
    job(String(10_000_000 - index), now - index * 1_000, {
      fleet: `fleet-${index % FLEETS}`,
      labels: ['self-hosted', `fleet-${index % FLEETS}`],
    }),
  );
  const waits = fleets.map((entry) => waitStats(entry.name, [50, 80, 40, 10, 5, 2, 1, 0]));
  const days = Array.from({ length: 7 }, (_, index) => new Date(now - index * 86_400_000).toISOString().slice(0, 10));
  const costs = fleets.flatMap((entry) => days.map((day) => ({ fleet: entry.name, day, dollars: 12.5 })));
  const requests = Array.from({ length: 50 }, (_, index) => ({
    repo: 'acme/fleets',
    issueNumber: index,
    issueUrl: `https://github.com/acme/fleets/issues/${index}`,
    prNumber: index + 1,
    prUrl: `https://github.com/acme/fleets/pull/${index + 1}`,
    fleet: `fleet-${index % FLEETS}`,
    kind: 'create' as const,
    status: 'applied' as const,
    updatedAt: now,
  }));
  return new FakeOperatorView(fleets, runners, jobs, waits, costs, requests, () => now);
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
  return `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${sorted.at(-1)!.toFixed(2)} ms`;
}

/** `ROUNDS` whole GETs of /dashboard through the app's server, on `view`; each request's time in ms. */
async function timedGets(view: OperatorView): Promise<number[]> {
  const app = await startDashboardApp({ view, env: { FLEETBOT_DASHBOARD_TOKEN: TOKEN }, fleetsYaml: 'fleets: []\n' });
  const requests: number[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const start = performance.now();
      const response = await fetch(`${app.url}/dashboard`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (response.status !== 200) throw new Error(`GET /dashboard answered ${response.status}`);
      await response.text();
      requests.push(performance.now() - start);
    }
  } finally {
    await app.close();
  }
  return requests;
}

/** The app's own view over a SQLite store of JOBS jobs: a tenth live (500 running, the rest waiting), the rest history. */
async function storeView(now: number): Promise<{ view: OperatorView; close: () => Promise<void> }> {
  const file = join(mkdtempSync(join(tmpdir(), 'fleetbot-bench-dashboard-')), 'fleetbot.db');
  const store = new SqliteStore(file);
  const fleets = Array.from({ length: FLEETS }, (_, index) => ecsFleet({ name: `fleet-${index}`, maxRunners: 25 }));
  const live = Math.round(JOBS / 10);
  writeFinishedHistory(file, { count: JOBS - live, fleets: FLEETS, now, spacingMs: 86_400_000 / (JOBS - live) });
  for (let id = 0; id < live; id++) {
    const spec = fleets[id % FLEETS]!;
    await store.admitJob({ ci: 'github', jobId: String(id), labels: spec.labels, origin: {} }, spec, `${spec.name}-${id}`, now - live + id);
  }
  const view = createOperatorView({
    store,
    fleets: new FleetRegistry(fleets),
    now: () => now,
    runnerCost: (priced, spec, until) => (spec ? estimateRunnerCost(priced, spec, until) : null),
  });
  return { view, close: () => store.close() };
}

async function main(): Promise<void> {
  const now = Date.now();
  const fake = view(now);
  const data = await loadDashboard(fake, {}, now);
  const renders: number[] = [];
  let bytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    bytes = dashboardPage(data, { user: 'bench', csrf: 'x'.repeat(43) }, {}, now).text.length;
    renders.push(performance.now() - start);
  }
  const requests = await timedGets(fake);
  const stored = await storeView(now);
  const storeRequests = await timedGets(stored.view).finally(stored.close);
  console.log(
    `dashboard: ${JOBS} jobs behind the view, ${data.jobs.length} shown, ${FLEETS} fleets, 500 runners; page ${(bytes / 1024).toFixed(0)} KiB`,
  );
  console.log(`  render alone:       ${summary(renders)} (${ROUNDS} rounds)`);
  console.log(`  GET /dashboard:     ${summary(requests)} (${ROUNDS} rounds, in-memory view)`);
  console.log(`  GET /dashboard:     ${summary(storeRequests)} (${ROUNDS} rounds, the app's view on a SQLite store of ${JOBS} jobs)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
