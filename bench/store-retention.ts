/**
 * The store with a long history: how long `activeRunners`, the fleet counts and one reconciler pass take
 * with 200,000 finished jobs and 200,000 released runners kept beside 1,000 live runners, with the status
 * indexes and without them (dropped, as a store before them was), and how long pruning all of it takes.
 * The store, scheduler and reconciler are the app's own, in-process, on a SQLite file; the cloud is an
 * instant in-memory stand-in, so the figures are the store's and the reconciler's own work, not AWS's.
 * Prints numbers; asserts nothing. BENCH_RETENTION_HISTORY, _RUNNERS and _REPEATS adjust it.
 *
 *   npm run build && node dist/bench/store-retention.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import type { ComputeBackend, ComputeRunner, ComputeState, LaunchedRunner, LaunchRequest } from '../src/compute/types.js';
import { FleetRegistry } from '../src/fleets/registry.js';
import { fleetSpecSchema, type FleetSpec } from '../src/fleets/spec.js';
import { Reconciler } from '../src/jobs/reconciler.js';
import { Scheduler } from '../src/jobs/scheduler.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { routerFor } from '../test/helpers/compute-router.js';
import { InstantCi } from './instant-ci.js';

const HISTORY = Number(process.env.BENCH_RETENTION_HISTORY ?? 200_000);
const RUNNERS = Number(process.env.BENCH_RETENTION_RUNNERS ?? 1000);
const REPEATS = Number(process.env.BENCH_RETENTION_REPEATS ?? 20);
const FLEETS = 10;
const DAY = 86_400_000;
const INDEXES = ['runners_by_status', 'jobs_by_status', 'jobs_by_receipt'];

/** A cloud that launches at once and remembers what runs, per fleet. */
class InstantCompute implements ComputeBackend {
  private readonly tasks = new Map<string, { fleet: string; runnerName: string; state: ComputeState }>();
  async launch(fleet: FleetSpec, request: LaunchRequest): Promise<LaunchedRunner> {
    const computeId = `task-${this.tasks.size}`;
    this.tasks.set(computeId, { fleet: fleet.name, runnerName: request.runnerName, state: 'running' });
    return { computeId, computeDetail: 'FARGATE' };
  }
  async stop(_fleet: FleetSpec, computeId: string): Promise<void> {
    const task = this.tasks.get(computeId);
    if (task) task.state = 'stopped';
  }
  async describe(_fleet: FleetSpec, computeIds: readonly string[]): Promise<Map<string, ComputeState>> {
    return new Map(computeIds.map((id) => [id, this.tasks.get(id)?.state ?? 'missing']));
  }
  async list(fleet: FleetSpec): Promise<ComputeRunner[]> {
    return [...this.tasks]
      .filter(([, task]) => task.fleet === fleet.name && task.state !== 'stopped')
      .map(([computeId, task]) => ({ computeId, runnerName: task.runnerName, state: task.state }));
  }
}

async function timed(repeats: number, body: () => Promise<unknown>): Promise<{ p50: number; max: number }> {
  const ms: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    await body();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length / 2)], max: ms[ms.length - 1] };
}

/** `HISTORY` finished jobs and as many released runners, `ageMs` old, written straight to the file. */
function addHistory(db: Database.Database, ageMs: number): void {
  const at = Date.now() - ageMs;
  const job = db.prepare(
    `INSERT INTO jobs (provider, job_id, fleet, status, labels, origin, runner_name, received_at, updated_at)
     VALUES ('github', ?, ?, 'completed', '["self-hosted"]', '{"installationId":1,"owner":"acme"}', ?, ?, ?)`,
  );
  const runner = db.prepare(
    `INSERT INTO runners (name, fleet, provider, job_id, status, released_reason, created_at, updated_at)
     VALUES (?, ?, 'github', ?, 'released', 'completed', ?, ?)`,
  );
  db.transaction(() => {
    for (let i = 0; i < HISTORY; i++) {
      const fleet = `bench-${i % FLEETS}`;
      job.run(`h${i}`, fleet, `old-${i}`, at, at);
      runner.run(`old-${i}`, fleet, `h${i}`, at, at);
    }
  })();
}

function fmt(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetbot-bench-retention-'));
  const file = join(dir, 'fleetbot.db');
  const store = new SqliteStore(file);
  const db = new Database(file);
  try {
    const fleets = Array.from({ length: FLEETS }, (_, index) =>
      fleetSpecSchema.parse({
        name: `bench-${index}`,
        labels: ['self-hosted', `bench-${index}`],
        maxRunners: Math.ceil(RUNNERS / FLEETS),
        compute: { type: 'ecs', cluster: 'bench', taskDefinition: 'runner', subnets: ['subnet-1'] },
      }),
    );
    const registry = new FleetRegistry(fleets);
    const compute = routerFor({ ecs: new InstantCompute() });
    const log = pino({ level: 'error' }, process.stderr);
    const credentials = { put: async () => undefined, delete: async () => undefined };
    const scheduler = new Scheduler({ store, fleets: registry, compute, credentials, ci: new InstantCi(), log });
    const reconciler = new Reconciler({ store, fleets: registry, compute, scheduler, credentials, log, launchTimeoutMs: 120_000 });
    for (let i = 0; i < RUNNERS; i++) {
      const fleet = fleets[i % FLEETS];
      await scheduler.jobQueued({ ci: 'github', jobId: String(9_000_000 + i), labels: fleet.labels, origin: { installationId: 1 } });
    }
    await scheduler.idle();
    addHistory(db, 2 * DAY);
    const active = (await store.activeRunners()).length;
    console.log(`${HISTORY.toLocaleString('en')} finished jobs and released runners kept, ${active} live runners, ${FLEETS} fleets`);
    console.log('| indexes | activeRunners p50 / max | fleetCounts p50 / max | reconciler pass p50 / max |');
    console.log('|---|---|---|---|');
    for (const withIndexes of [true, false]) {
      if (!withIndexes) for (const index of INDEXES) db.exec(`DROP INDEX ${index}`);
      db.exec('ANALYZE');
      const activeRunners = await timed(REPEATS, () => store.activeRunners());
      const counts = await timed(REPEATS, () => store.fleetCounts());
      const pass = await timed(Math.max(3, Math.floor(REPEATS / 4)), () => reconciler.pass());
      console.log(
        `| ${withIndexes ? 'with (schema now)' : 'without (schema before)'} | ${fmt(activeRunners.p50)} / ${fmt(activeRunners.max)} ms | ` +
          `${fmt(counts.p50)} / ${fmt(counts.max)} ms | ${fmt(pass.p50)} / ${fmt(pass.max)} ms |`,
      );
    }
    for (const index of INDEXES)
      db.exec(
        `CREATE INDEX IF NOT EXISTS ${index} ON ${index.startsWith('jobs') ? 'jobs' : 'runners'} (${index === 'jobs_by_receipt' ? 'received_at' : 'status, updated_at'})`,
      );
    db.exec(`UPDATE jobs SET updated_at = updated_at - ${20 * DAY} WHERE job_id LIKE 'h%'`);
    db.exec(`UPDATE runners SET updated_at = updated_at - ${20 * DAY} WHERE name LIKE 'old-%'`);
    const started = performance.now();
    const pruned = await store.pruneFinished(Date.now() - 14 * DAY);
    const pruneMs = performance.now() - started;
    console.log(
      `pruning ${pruned.jobs.toLocaleString('en')} jobs and ${pruned.runners.toLocaleString('en')} runners past a 14-day retention: ` +
        `${fmt(pruneMs)} ms in batches of 5,000; live runners left: ${(await store.activeRunners()).length}`,
    );
    const after = await timed(REPEATS, () => store.activeRunners());
    const passAfter = await timed(Math.max(3, Math.floor(REPEATS / 4)), () => reconciler.pass());
    console.log(`after pruning: activeRunners p50 ${fmt(after.p50)} ms, reconciler pass p50 ${fmt(passAfter.p50)} ms`);
  } finally {
    db.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
