import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { Store } from '../../../src/store/types.js';

const JOBS = 100_000;
const FLEETS = ['linux', 'arm', 'gpu', 'windows'];

/**
 * A store as a busy installation's looks after two weeks: 100,000 jobs (nearly all finished), their
 * runners, a few dozen in play. Written straight into the file: admitting them one by one would take minutes.
 */
function bigStore(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'operator-reads-')), 'fleetbot.db');
  new SqliteStore(file).close();
  const db = new Database(file);
  const job = db.prepare(
    `INSERT INTO jobs (provider, job_id, fleet, status, labels, origin, runner_name, launch_attempts, received_at, started_at, updated_at)
     VALUES (?, ?, ?, ?, '["self-hosted"]', '{"installationId":1}', ?, 1, ?, ?, ?)`,
  );
  const runner = db.prepare(
    `INSERT INTO runners (name, fleet, provider, job_id, status, created_at, updated_at, released_at)
     VALUES (?, ?, 'github', ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    for (let id = 0; id < JOBS; id++) {
      const fleet = FLEETS[id % FLEETS.length]!;
      const live = id >= JOBS - 40;
      const status = live ? (id % 2 === 0 ? 'waiting' : 'launched') : 'completed';
      const name = status === 'waiting' ? null : `${fleet}-${id}`;
      job.run(id % 10 === 0 ? 'gitlab' : 'github', String(id), fleet, status, name, id * 1000, id * 1000 + 30_000, id * 1000 + 60_000);
      if (name)
        runner.run(name, fleet, String(id), live ? 'running' : 'released', id * 1000, id * 1000 + 60_000, live ? null : id * 1000 + 60_000);
    }
  })();
  db.close();
  return file;
}

/** The median of `runs` timings of `read`, in milliseconds. */
async function medianMs(read: () => Promise<unknown>, runs = 9): Promise<number> {
  const timings: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = process.hrtime.bigint();
    await read();
    timings.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return timings.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

describe("the SQLite store's operator reads with 100,000 jobs", () => {
  let file: string;
  let store: SqliteStore;

  beforeAll(() => {
    file = bigStore();
    store = new SqliteStore(file);
  });
  afterAll(() => store.close());

  // A scrape reads the counts, the dashboard the newest jobs and runners: none may read every job kept.
  const reads: [string, (store: Store) => Promise<unknown>][] = [
    ['countJobsByStatus', (s) => s.countJobsByStatus()],
    ['listJobs (newest 200)', (s) => s.listJobs({ limit: 200 })],
    ['listJobs (one fleet, newest 200)', (s) => s.listJobs({ fleet: 'gpu', limit: 200 })],
    ['listJobs (waiting)', (s) => s.listJobs({ status: 'waiting', limit: 200 })],
    ['listJobs (gitlab, last hour)', (s) => s.listJobs({ ci: 'gitlab', since: (JOBS - 3600) * 1000, limit: 200 })],
    ['listRunners (active)', (s) => s.listRunners({ active: true, limit: 200 })],
    ['listRunners (one fleet, newest 200)', (s) => s.listRunners({ fleet: 'arm', limit: 200 })],
  ];

  it.each(reads)('answers %s in a few milliseconds', async (_name, read) => {
    const ms = await medianMs(() => read(store));
    // Measured at 0.03–6 ms (medians) on a 2-core machine; the bound leaves room for a loaded CI runner.
    expect(ms).toBeLessThan(25);
  });

  it('answers them right', async () => {
    expect((await store.countJobsByStatus()).get('linux')).toEqual(new Map([['waiting', 10]]));
    const newest = await store.listJobs({ fleet: 'gpu', limit: 3 });
    expect(newest.map((job) => job.jobId)).toEqual([String(JOBS - 2), String(JOBS - 6), String(JOBS - 10)]);
    expect(await store.listRunners({ active: true, limit: 200 })).toHaveLength(20);
  });

  it('reads the jobs through their indexes, never the whole table', () => {
    const db = new Database(file, { readonly: true });
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((row) => row.detail).join('; ');
    try {
      expect(plan("SELECT * FROM jobs WHERE fleet = 'gpu' ORDER BY received_at DESC, rowid DESC LIMIT 200")).toContain(
        'USING INDEX jobs_by_fleet_receipt',
      );
      expect(plan('SELECT * FROM jobs ORDER BY received_at DESC, rowid DESC LIMIT 200')).toContain('USING INDEX jobs_by_receipt');
      expect(plan('SELECT * FROM runners ORDER BY created_at DESC, rowid DESC LIMIT 200')).toContain('USING INDEX runners_by_creation');
      expect(plan("SELECT * FROM runners WHERE fleet = 'arm' ORDER BY created_at DESC, rowid DESC LIMIT 200")).toContain(
        'USING INDEX runners_by_fleet_creation',
      );
    } finally {
      db.close();
    }
  });
});
