/**
 * `npm run bench` (metrics part): how long a `/metrics` scrape takes with 100,000 jobs in a SQLite store
 * (target < 50 ms), and the app's memory after a 1,000-job burst (target ≤ 200 MB RSS), started as
 * `npm start` runs it against moto and the fake GitHub, with its heap broken down from its own /metrics.
 * Prints numbers; asserts nothing.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FleetRegistry } from '../src/fleets/registry.js';
import type { FleetSpecInput } from '../src/fleets/spec.js';
import { createMetrics } from '../src/metrics/instruments.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { appEnvironment, sign, startAppProcess, type AppProcess } from '../test/helpers/app-process.js';
import { createRunnerInfra, ecsCompute } from '../test/helpers/aws-fixture.js';
import { startFakeGitHub } from '../test/helpers/fake-github.js';
import { ecsFleet } from '../test/helpers/fleets.js';
import { startMoto } from '../test/helpers/moto.js';
import { completedJob, queuedJob } from '../test/helpers/payloads.js';
import { sample } from '../test/helpers/prometheus-text.js';
import { writeFinishedHistory } from './stored-history.js';

const STORED_JOBS = Number(process.env.BENCH_STORED_JOBS ?? 100_000);
const BURST_JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const FLEETS = 10;
const SCRAPES = 50;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const LIVE_JOBS = 10_000;

/** 100,000 jobs over ten fleets of 50 runners: 90,000 finished, 500 with an active runner and 9,500 waiting. */
async function scrapeBench(): Promise<void> {
  const file = join(mkdtempSync(join(tmpdir(), 'fleetbot-bench-')), 'fleetbot.db');
  const store = new SqliteStore(file);
  const fleets = Array.from({ length: FLEETS }, (_, index) =>
    ecsFleet({ name: `fleet-${index}`, labels: ['self-hosted', `f${index}`], maxRunners: 50 }),
  );
  const filled = performance.now();
  writeFinishedHistory(file, { count: STORED_JOBS - LIVE_JOBS, fleets: FLEETS, now: Date.now(), spacingMs: 1_000 });
  for (let id = 0; id < LIVE_JOBS; id++) {
    const fleet = fleets[id % FLEETS];
    await store.admitJob({ ci: 'github', jobId: String(id), labels: fleet.labels, origin: {} }, fleet, `${fleet.name}-${id}`, id);
  }
  console.log(`store filled with ${STORED_JOBS} jobs in ${((performance.now() - filled) / 1000).toFixed(1)} s`);

  const metrics = createMetrics();
  metrics.readGaugesFrom({ store, fleets: new FleetRegistry(fleets) });
  const times: number[] = [];
  let text = '';
  for (let scrape = 0; scrape < SCRAPES; scrape++) {
    const started = performance.now();
    text = await metrics.registry.metrics();
    times.push(performance.now() - started);
  }
  const backlog = fleets.reduce((sum, fleet) => sum + (sample(text, 'fleetbot_backlog_jobs', { fleet: fleet.name }) ?? 0), 0);
  console.log(`/metrics scrape (${SCRAPES} scrapes, ${text.length} bytes, backlog read ${backlog}):`);
  console.log(`  p50 ${percentile(times, 50).toFixed(2)} ms   p99 ${percentile(times, 99).toFixed(2)} ms   (target < 50 ms)`);
  await store.close();
}

async function send(app: AppProcess, payloads: unknown[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < payloads.length) {
        const body = JSON.stringify(payloads[next++]);
        const status = await app.postPrepared('workflow_job', body, sign(body));
        if (status !== 200) throw new Error(`webhook answered ${status}`);
      }
    }),
  );
}

function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

/** The burst: every job queued, then each completed as soon as its runner is up, until none is left. */
async function burst(app: AppProcess, database: string): Promise<void> {
  const db = new Database(database, { readonly: true });
  await send(
    app,
    Array.from({ length: BURST_JOBS }, (_, index) => queuedJob({ jobId: 7_000_000 + index, org: 'acme' })),
  );
  const completed = new Set<string>();
  while (completed.size < BURST_JOBS) {
    const launched = db.prepare("SELECT job_id, runner_name FROM jobs WHERE status = 'launched'").all() as Array<{
      job_id: string;
      runner_name: string;
    }>;
    const fresh = launched.filter((job) => !completed.has(job.job_id));
    fresh.forEach((job) => completed.add(job.job_id));
    if (fresh.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    await send(
      app,
      fresh.map((job) => completedJob({ jobId: Number(job.job_id), org: 'acme', runnerName: job.runner_name })),
    );
  }
  db.close();
}

/** What holds the app's memory, from its own /metrics (Node's default metrics): RSS, the V8 heap by space, and memory outside it. */
function memoryLines(text: string): string[] {
  const mb = (name: string, labels: Record<string, string> = {}) => ((sample(text, name, labels) ?? NaN) / 2 ** 20).toFixed(1);
  const spaces = ['new', 'old', 'code', 'large_object'].map(
    (space) => `${space} ${mb('nodejs_heap_space_size_used_bytes', { space })}/${mb('nodejs_heap_space_size_total_bytes', { space })}`,
  );
  return [
    `  RSS ${mb('process_resident_memory_bytes')} MB; V8 heap used/total ${mb('nodejs_heap_size_used_bytes')}/${mb('nodejs_heap_size_total_bytes')} MB`,
    `  by space (used/total MB): ${spaces.join(', ')}; external ${mb('nodejs_external_memory_bytes')} MB`,
  ];
}

async function memoryBench(): Promise<void> {
  const moto = await startMoto();
  const github = await startFakeGitHub();
  const infra = await createRunnerInfra(moto);
  const fleet: FleetSpecInput = { name: 'bench', labels: ['self-hosted', 'linux'], maxRunners: 100, compute: ecsCompute(infra) };
  const env = appEnvironment(moto, github, [fleet], { LOG_LEVEL: 'info', FLEETBOT_RECONCILE_INTERVAL_SECONDS: '3600' });
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean);
  const app = await startAppProcess(env, { nodeArgs, logFile: '/dev/null' });
  const scrape = async () => (await fetch(`${app.url}/metrics`)).text();
  // A scrape every second, as a busy Prometheus might: the one at the highest RSS says what the peak was made of.
  let peak = { rss: 0, text: '' };
  const sampler = setInterval(() => {
    void scrape().then((text) => {
      const rss = sample(text, 'process_resident_memory_bytes') ?? 0;
      if (rss > peak.rss) peak = { rss, text };
    });
  }, 1000);
  try {
    const idle = procStatusMb(app.pid, 'VmRSS');
    const started = performance.now();
    await burst(app, env.FLEETBOT_DB);
    clearInterval(sampler);
    const after = await scrape();
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`app memory, ${BURST_JOBS}-job burst in ${seconds} s, node ${nodeArgs?.join(' ') || '(no flags)'} (target ≤ 200 MB RSS):`);
    console.log(`  idle before ${idle} MB, after ${procStatusMb(app.pid, 'VmRSS')} MB, peak ${procStatusMb(app.pid, 'VmHWM')} MB (VmHWM)`);
    console.log('at the highest sampled RSS:', ...memoryLines(peak.text).map((line) => `\n${line}`));
    console.log('after the burst:', ...memoryLines(after).map((line) => `\n${line}`));
    console.log(`  jobs launched ${sample(after, 'fleetbot_jobs_total', { ci: 'github', fleet: 'bench', outcome: 'launched' })}`);
  } finally {
    clearInterval(sampler);
    await app.stop();
    await github.close();
    await moto.stop();
  }
}

async function main(): Promise<void> {
  await scrapeBench();
  if (process.env.BENCH_SKIP_BURST !== '1') await memoryBench();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
