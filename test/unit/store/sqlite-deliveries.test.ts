import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { DELIVERIES_SCHEMA } from '../../../src/store/sqlite-deliveries.js';
import { MIGRATIONS } from '../../../src/store/sqlite-statements.js';
import { UNDO_OPERATOR_SCHEMA } from '../../helpers/sqlite-schema.js';

describe('webhook deliveries in the SQLite store', () => {
  const fresh = () => join(mkdtempSync(join(tmpdir(), 'fleetbot-deliveries-')), 'fleetbot.db');

  it('keeps the recovery watermark and recovered GUIDs across a restart', async () => {
    const file = fresh();
    let store = new SqliteStore(file);
    expect(await store.deliveries.recoveryWatermark()).toBeUndefined();
    await store.deliveries.setRecoveryWatermark(1_000);
    await store.deliveries.setRecoveryWatermark(2_000);
    await store.deliveries.markRecovered('guid-a', 5);
    await store.close();

    store = new SqliteStore(file);
    expect(await store.deliveries.recoveryWatermark()).toBe(2_000);
    expect(await store.deliveries.wasRecovered('guid-a')).toBe(true);
    expect(await store.deliveries.wasRecovered('guid-b')).toBe(false);
    await store.close();
  });

  it('keeps recovered and handled GUIDs apart: a recovered delivery is still handled once it arrives', async () => {
    const { deliveries } = new SqliteStore(':memory:');
    await deliveries.markRecovered('guid-a', 5);
    expect(await deliveries.claimHandling('guid-a', 6)).toBe(true);
    expect(await deliveries.claimHandling('guid-a', 7)).toBe(false);
    await deliveries.releaseHandling('guid-a');
    expect(await deliveries.claimHandling('guid-a', 8)).toBe(true);
  });

  it('forgets GUIDs older than GitHub keeps deliveries', async () => {
    const { deliveries } = new SqliteStore(':memory:');
    await deliveries.markRecovered('old', 10);
    await deliveries.markRecovered('new', 20);
    await deliveries.pruneBefore(15);
    expect(await deliveries.wasRecovered('old')).toBe(false);
    expect(await deliveries.wasRecovered('new')).toBe(true);
  });

  it('adds its tables to a database of the version before, keeping its jobs', async () => {
    const file = fresh();
    const store = new SqliteStore(file);
    await store.admitJob({ ci: 'github', jobId: '1', labels: ['x'], origin: {} }, { name: 'f', maxRunners: 1 }, 'r1', 1);
    await store.close();
    const raw = new Database(file);
    raw.exec(UNDO_OPERATOR_SCHEMA);
    raw.exec('DROP TABLE app_values; DROP TABLE webhook_deliveries; ALTER TABLE runners DROP COLUMN launch_spec;');
    raw.pragma(`user_version = ${MIGRATIONS.indexOf(DELIVERIES_SCHEMA)}`);
    raw.close();

    const upgraded = new SqliteStore(file);
    expect((await upgraded.getJob('github', '1'))?.status).toBe('launching');
    await upgraded.deliveries.markRecovered('guid-a', 1);
    expect(await upgraded.deliveries.wasRecovered('guid-a')).toBe(true);
    await upgraded.close();
  });
});
