import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LAUNCH_SPECS_SCHEMA, MIGRATIONS } from '../../../src/store/sqlite-statements.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { ecsFleet } from '../../helpers/fleets.js';

const fleet = ecsFleet({ name: 'linux', labels: ['self-hosted', 'linux'], maxRunners: 2 });
const limit = { name: fleet.name, maxRunners: fleet.maxRunners };
const job = (id: number) => ({ ci: 'github' as const, jobId: String(id), labels: fleet.labels, origin: { installationId: 1 } });

describe("the SQLite store's launch specs (what stops a runner once its fleet is gone)", () => {
  const file = () => join(mkdtempSync(join(tmpdir(), 'store-')), 'fleetbot.db');

  it('keeps the spec a runner was launched with, and none for a runner not launched yet', async () => {
    const store = new SqliteStore(':memory:');
    await store.admitJob(job(1), limit, 'r1', 1);
    await store.admitJob(job(2), limit, 'r2', 1);
    await store.markRunnerLaunched('r1', 'arn:task/1', 'FARGATE', 2, fleet);

    expect((await store.getRunner('r1'))?.launchSpec).toEqual(fleet);
    expect((await store.activeRunners()).find((runner) => runner.name === 'r1')?.launchSpec).toEqual(fleet);
    expect((await store.getRunner('r2'))?.launchSpec).toBeNull();
    await store.close();
  });

  it('adds the launch spec column to a database of the version before, its runners launched without one', async () => {
    const path = file();
    const version = MIGRATIONS.indexOf(LAUNCH_SPECS_SCHEMA);
    const raw = new Database(path);
    for (const migration of MIGRATIONS.slice(0, version)) raw.exec(migration);
    raw.pragma(`user_version = ${version}`);
    raw.exec(
      `INSERT INTO runners (name, fleet, provider, job_id, status, compute_id, compute_detail, created_at, updated_at)
       VALUES ('old', 'linux', 'github', '7', 'running', 'arn:task/7', 'FARGATE', 1, 1)`,
    );
    raw.close();

    const store = new SqliteStore(path);
    expect(await store.getRunner('old')).toMatchObject({ status: 'running', computeId: 'arn:task/7', launchSpec: null });
    await store.admitJob(job(8), limit, 'new', 2);
    await store.markRunnerLaunched('new', 'arn:task/8', 'FARGATE', 3, fleet);
    expect((await store.getRunner('new'))?.launchSpec).toEqual(fleet);
    await store.close();
  });
});
