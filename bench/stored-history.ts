import Database from 'better-sqlite3';

/**
 * Finished jobs written straight into a SQLite store's file, each with its released runner and a whole
 * timeline (queued, received, claimed, launched, started, completed; the runner launched and released), as
 * bench/store-retention.ts does it: admitting 90,000 jobs one by one only to complete them would time the
 * fill, not the reads under test. The newest job finished a minute before `now`, one every `spacingMs` before.
 * Open the store (SqliteStore) on the file first, so that its tables exist.
 */
export function writeFinishedHistory(file: string, options: { count: number; fleets: number; now: number; spacingMs: number }): void {
  const db = new Database(file);
  const job = db.prepare(
    `INSERT INTO jobs (provider, job_id, fleet, status, labels, origin, runner_name, received_at, updated_at,
                       queued_at, claimed_at, launch_requested_at, launched_at, started_at, completed_at)
     VALUES ('github', @jobId, @fleet, 'completed', '["self-hosted"]', '{"installationId":1,"owner":"acme"}', @runner,
             @received, @completed, @queued, @received, @received, @launched, @started, @completed)`,
  );
  const runner = db.prepare(
    `INSERT INTO runners (name, fleet, provider, job_id, status, released_reason, created_at, updated_at, launched_at, released_at, spot)
     VALUES (@runner, @fleet, 'github', @jobId, 'released', 'completed', @received, @completed, @launched, @completed, 0)`,
  );
  db.transaction(() => {
    for (let index = 0; index < options.count; index++) {
      const completed = options.now - 60_000 - index * options.spacingMs;
      // Waits of 5 to 95 s and jobs of 2 to 12 minutes, so histograms and costs have something to sum.
      const started = completed - (2 + (index % 11)) * 60_000;
      const launched = started - 5_000 - (index % 10) * 1_000;
      const received = launched - 2_000;
      const row = { jobId: `h${index}`, fleet: `fleet-${index % options.fleets}`, runner: `old-${index}` };
      job.run({ ...row, received, completed, queued: received - (index % 10) * 9_000, launched, started });
      runner.run({ ...row, received, completed, launched });
    }
  })();
  db.close();
}
