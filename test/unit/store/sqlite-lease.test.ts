import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../../src/store/sqlite.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('leases and request locks in the SQLite store', () => {
  let file: string;
  let store: SqliteStore;
  beforeEach(() => {
    file = join(mkdtempSync(join(tmpdir(), 'lease-')), 'fleetbot.db');
    store = new SqliteStore(file);
  });
  afterEach(() => store.close());

  /** Rewrites who took the rows, as if another process had. */
  function takenBy(owner: { host?: string; pid: number }) {
    const raw = new Database(file);
    raw.prepare('UPDATE leases SET pid = ?, host = COALESCE(?, host)').run(owner.pid, owner.host ?? null);
    raw.prepare('UPDATE fleet_request_locks SET pid = ?, host = COALESCE(?, host)').run(owner.pid, owner.host ?? null);
    raw.close();
  }

  it('frees at once what a process of this host that no longer exists held: a restart after a crash does not wait', async () => {
    const token = (await store.lease.acquire('reconciler', 'crashed', 15_000, 0))!;
    await store.issueOps.lockRequest('acme/fleets', 7, 'crashed', 15_000, 0);
    takenBy({ pid: deadPid() });
    expect(await store.lease.acquire('reconciler', 'restarted', 15_000, 1)).toBe(token + 1);
    expect(await store.issueOps.lockRequest('acme/fleets', 7, 'restarted', 15_000, 1)).toBe(true);
  });

  it('keeps what a live process of this host, or any process of another host, holds until it lapses', async () => {
    await store.lease.acquire('reconciler', 'parent', 15_000, 0);
    takenBy({ pid: process.ppid });
    expect(await store.lease.acquire('reconciler', 'other', 15_000, 1)).toBeUndefined();
    takenBy({ host: 'another-host', pid: deadPid() });
    expect(await store.lease.acquire('reconciler', 'other', 15_000, 1)).toBeUndefined();
    await store.issueOps.lockRequest('acme/fleets', 7, 'parent', 15_000, 0);
    takenBy({ host: 'another-host', pid: deadPid() });
    expect(await store.issueOps.lockRequest('acme/fleets', 7, 'other', 15_000, 1)).toBe(false);
    expect(await store.lease.acquire('reconciler', 'other', 15_000, 15_000)).toEqual(expect.any(Number));
  });
});
