import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { NewJob } from '../../../src/store/types.js';
import { UNDO_OPERATOR_SCHEMA } from '../../helpers/sqlite-schema.js';

const fleet = { name: 'linux', maxRunners: 2 };

function job(id: number): NewJob {
  return { ci: 'github', jobId: String(id), labels: ['self-hosted'], origin: { installationId: 1 } };
}

/** What only SQLite does (its file, its schema versions); what every store does is in test/contract/store.test.ts. */
describe('the SQLite store', () => {
  let file: string;
  let store: SqliteStore;

  beforeEach(() => {
    file = join(mkdtempSync(join(tmpdir(), 'store-')), 'nested', 'fleetbot.db');
    store = new SqliteStore(file);
  });
  afterEach(() => store.close());

  it('keeps jobs, runners and the backlog across a restart', async () => {
    await store.admitJob(job(1), { name: 'linux', maxRunners: 1 }, 'r1', 1);
    await store.admitJob(job(2), { name: 'linux', maxRunners: 1 }, 'r2', 2);
    await store.markRunnerLaunched('r1', 'arn:1', 'FARGATE', 3);
    await store.close();
    store = new SqliteStore(file);
    expect((await store.admitJob(job(1), fleet, 'r9', 4)).kind).toBe('duplicate');
    expect(await store.getRunner('r1')).toMatchObject({ status: 'running', computeId: 'arn:1' });
    expect((await store.fleetCounts()).get('linux')).toEqual({ active: 1, waiting: 1 });
  });

  it('refuses a database from a newer schema rather than misreading it', async () => {
    await store.close();
    const Database = (await import('better-sqlite3')).default;
    const raw = new Database(file);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => new SqliteStore(file)).toThrow(/schema version 99/);
    store = new SqliteStore(':memory:');
  });

  it('adds the unchecked-job columns to a database from schema version 3', async () => {
    await store.admitJob(job(1), fleet, 'r1', 1);
    await store.close();
    const Database = (await import('better-sqlite3')).default;
    const raw = new Database(file);
    raw.exec(
      UNDO_OPERATOR_SCHEMA +
        'ALTER TABLE jobs DROP COLUMN unchecked_since; ALTER TABLE jobs DROP COLUMN unchecked_reported; ALTER TABLE jobs DROP COLUMN started_at;' +
        ' ALTER TABLE runners DROP COLUMN launch_spec',
    );
    raw.pragma('user_version = 3');
    raw.close();
    store = new SqliteStore(file);
    expect((await store.getJob('github', '1'))?.status).toBe('launching');
    expect((await store.admitJob(job(2), fleet, 'r2', 2)).kind).toBe('claimed');
  });

  it('adds the job start column to a database from schema version 4, its jobs not started', async () => {
    await store.admitJob(job(1), fleet, 'r1', 1);
    await store.close();
    const Database = (await import('better-sqlite3')).default;
    const raw = new Database(file);
    raw.exec(UNDO_OPERATOR_SCHEMA + 'ALTER TABLE jobs DROP COLUMN started_at; ALTER TABLE runners DROP COLUMN launch_spec');
    raw.pragma('user_version = 4');
    raw.close();
    store = new SqliteStore(file);
    expect(await store.getJob('github', '1')).toMatchObject({ status: 'launching', startedAt: null });
    await store.markJobStarted('github', '1', 50, 60);
    expect((await store.getJob('github', '1'))?.startedAt).toBe(50);
  });
});
