import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { STATEMENTS } from '../../../src/store/sqlite-statements.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 5);

/** The store, and a second connection to its file for what the store's interface does not expose. */
function openStore(): { store: SqliteStore; db: Database.Database } {
  const file = join(mkdtempSync(join(tmpdir(), 'fleetbot-retention-')), 'fleetbot.db');
  const store = new SqliteStore(file);
  return { store, db: new Database(file) };
}

function insertJob(db: Database.Database, jobId: string, status: string, updatedAt: number, runnerName: string | null = null): void {
  db.prepare(
    `INSERT INTO jobs (provider, job_id, fleet, status, labels, origin, runner_name, received_at, updated_at)
     VALUES ('github', ?, 'linux', ?, '[]', '{}', ?, ?, ?)`,
  ).run(jobId, status, runnerName, updatedAt, updatedAt);
}

function insertRunner(db: Database.Database, name: string, jobId: string, status: string, updatedAt: number): void {
  db.prepare(
    `INSERT INTO runners (name, fleet, provider, job_id, status, created_at, updated_at)
     VALUES (?, 'linux', 'github', ?, ?, ?, ?)`,
  ).run(name, jobId, status, updatedAt, updatedAt);
}

describe('store retention', () => {
  it('deletes finished jobs and released runners older than the cut-off, and nothing else', async () => {
    const { store, db } = openStore();
    const old = NOW - 20 * DAY;
    const recent = NOW - 2 * DAY;
    insertJob(db, 'old-completed', 'completed', old, 'r-old');
    insertRunner(db, 'r-old', 'old-completed', 'released', old);
    insertJob(db, 'old-abandoned', 'abandoned', old);
    insertJob(db, 'old-unmatched', 'unmatched', old);
    insertJob(db, 'recent-completed', 'completed', recent, 'r-recent');
    insertRunner(db, 'r-recent', 'recent-completed', 'released', recent);
    insertJob(db, 'old-waiting', 'waiting', old);
    insertJob(db, 'old-launched', 'launched', old, 'r-running');
    insertRunner(db, 'r-running', 'old-launched', 'running', old);
    // A completion whose runner is still active (its stop not yet done) keeps its job.
    insertJob(db, 'old-completed-busy', 'completed', old, 'r-stopping');
    insertRunner(db, 'r-stopping', 'old-completed-busy', 'launching', old);

    expect(await store.pruneFinished(NOW - 14 * DAY)).toEqual({ jobs: 3, runners: 1 });

    const jobs = db.prepare('SELECT job_id FROM jobs ORDER BY job_id').pluck().all();
    const runners = db.prepare('SELECT name FROM runners ORDER BY name').pluck().all();
    expect(jobs).toEqual(['old-completed-busy', 'old-launched', 'old-waiting', 'recent-completed']);
    expect(runners).toEqual(['r-recent', 'r-running', 'r-stopping']);
    expect(await store.pruneFinished(NOW - 14 * DAY)).toEqual({ jobs: 0, runners: 0 });
    db.close();
    await store.close();
  });

  it('prunes more rows than one batch', async () => {
    const { store, db } = openStore();
    db.transaction(() => {
      for (let i = 0; i < 12_345; i++) {
        insertJob(db, `j${i}`, 'completed', NOW - 30 * DAY, `r${i}`);
        insertRunner(db, `r${i}`, `j${i}`, 'released', NOW - 30 * DAY);
      }
    })();
    expect(await store.pruneFinished(NOW - 14 * DAY)).toEqual({ jobs: 12_345, runners: 12_345 });
    db.close();
    await store.close();
  });

  it.each([
    ['activeRunners', 'runners_by_status'],
    ['activeCounts', 'runners_by_status'],
    ['waitingCounts', 'jobs_by_status'],
    ['pruneRunners', 'runners_by_status'],
    ['pruneJobs', 'jobs_by_status'],
    ['jobOrigins', 'jobs_by_receipt'],
  ] as const)('answers %s from an index (%s), not a scan of every row kept', (name, index) => {
    const { store, db } = openStore();
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN ${STATEMENTS[name].text}`)
      .all(...(name === 'jobOrigins' ? [NOW] : name.startsWith('prune') ? [{ before: NOW, limit: 1 }] : []))
      .map((row) => (row as { detail: string }).detail)
      .join('\n');
    expect(plan).toContain(index);
    expect(plan).not.toMatch(/SCAN (jobs|runners)\b(?! USING)/);
    db.close();
    void store.close();
  });
});
