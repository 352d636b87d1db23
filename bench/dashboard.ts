/**
 * `npm run bench` (part): how long `/dashboard` takes to render with 100,000 jobs behind the view and 200
 * shown, with 20 fleets, 500 live runners, their wait histograms, 7 days of cost and 50 IssueOps requests.
 * Two numbers: the render alone (the page built from the view's answers), and a whole `GET /dashboard`
 * through the app's own server (auth by the bearer token, the view's reads, the render, the response).
 * The view is the tests' in-memory OperatorView (the real one, on SQLite, is src/operator's): its reads
 * filter the 100,000 jobs in memory. BENCH_DASHBOARD_JOBS and BENCH_DASHBOARD_ROUNDS adjust it. Prints
 * numbers; asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import { loadDashboard, dashboardPage } from '../src/web/page.js';
import { startDashboardApp } from '../test/helpers/web/dashboard-app.js';
import { FakeOperatorView, fleet, job, runner, waitStats } from '../test/helpers/web/fake-operator-view.js';

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
  const app = await startDashboardApp({ view: fake, env: { FLEETBOT_DASHBOARD_TOKEN: TOKEN }, fleetsYaml: 'fleets: []\n' });
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
  console.log(
    `dashboard: ${JOBS} jobs behind the view, ${data.jobs.length} shown, ${FLEETS} fleets, 500 runners; page ${(bytes / 1024).toFixed(0)} KiB`,
  );
  console.log(`  render alone:       ${summary(renders)} (${ROUNDS} rounds)`);
  console.log(`  GET /dashboard:     ${summary(requests)} (${ROUNDS} rounds, in-memory view)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
