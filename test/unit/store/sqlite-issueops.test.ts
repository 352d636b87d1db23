import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { SCHEMA_VERSION } from '../../../src/store/sqlite-statements.js';
import type { FleetRequestRecord, NewJob } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { UNDO_OPERATOR_SCHEMA } from '../../helpers/sqlite-schema.js';

function request(overrides: Partial<FleetRequestRecord> = {}): FleetRequestRecord {
  return <FleetRequestRecord>{
    repo: 'acme/runner-fleets',
    issueNumber: 7,
    kind: 'create',
    installationId: 1,
    author: 'octocat',
    fleet: 'linux-small',
    status: 'planning',
    detail: null,
    spec: ecsFleet({ name: 'linux-small' }),
    prNumber: 8,
    branch: 'fleetbot/fleet-linux-small',
    plannedSha: null,
    planFile: null,
    plannedAt: null,
    planSummary: null,
    appliedSha: null,
    createdAt: 1,
    updatedAt: 1,
    ...overrides,
  };
}

function job(id: number): NewJob {
  return { ci: 'github', jobId: String(id), labels: ['self-hosted'], origin: { installationId: 1 } };
}

describe('IssueOps state in the SQLite store', () => {
  let file: string;
  let store: SqliteStore;

  beforeEach(() => {
    file = join(mkdtempSync(join(tmpdir(), 'store-')), 'fleetbot.db');
    store = new SqliteStore(file);
  });
  afterEach(() => store.close());

  it('saves a request and finds it by issue and by pull request', async () => {
    await store.issueOps.saveRequest(request());
    await store.issueOps.saveRequest(
      request({ status: 'planned', plannedSha: 'abc', planFile: '/plans/abc.tfplan', plannedAt: 5, updatedAt: 5 }),
    );
    expect(await store.issueOps.getRequest('acme/runner-fleets', 7)).toMatchObject({
      status: 'planned',
      plannedSha: 'abc',
      spec: ecsFleet({ name: 'linux-small' }),
    });
    expect((await store.issueOps.getRequestByPull('acme/runner-fleets', 8))?.issueNumber).toBe(7);
    expect(await store.issueOps.getRequestByPull('acme/runner-fleets', 9)).toBeUndefined();
  });

  it('lists the requests a crash may have interrupted', async () => {
    await store.issueOps.saveRequest(request({ issueNumber: 1, prNumber: 2, status: 'planning' }));
    await store.issueOps.saveRequest(
      request({ issueNumber: 3, prNumber: 4, status: 'applying', plannedSha: 'abc', planFile: '/plans/abc.tfplan', plannedAt: 5 }),
    );
    await store.issueOps.saveRequest(request({ issueNumber: 5, prNumber: 6, status: 'planned' }));
    expect((await store.issueOps.unfinishedRequests()).map((entry) => entry.issueNumber)).toEqual([1, 3]);
  });

  it('reads a request as its status says it is, and refuses a row that breaks its status', async () => {
    await store.issueOps.saveRequest(request({ kind: 'delete', spec: null }));
    expect(await store.issueOps.getRequest('acme/runner-fleets', 7)).toMatchObject({ kind: 'delete', spec: null, fleet: 'linux-small' });
    await store.issueOps.saveRequest(request({ status: 'invalid', fleet: null, prNumber: null, branch: null, spec: null }));
    expect(await store.issueOps.getRequest('acme/runner-fleets', 7)).toMatchObject({ status: 'invalid', fleet: null });
    await store.issueOps.saveRequest(request({ status: 'planned' }));
    await expect(store.issueOps.getRequest('acme/runner-fleets', 7)).rejects.toThrow(/is planned without its saved plan/);
    await store.issueOps.saveRequest(request({ status: 'closed', spec: null }));
    await expect(store.issueOps.getRequest('acme/runner-fleets', 7)).rejects.toThrow(/is closed without its fleet spec/);
  });

  it('gives a fleet lock to one request at a time, and only its holder releases it', async () => {
    expect(await store.issueOps.acquireFleetLock('gpu', 'acme/runner-fleets', 1, 10)).toMatchObject({ issueNumber: 1 });
    expect(await store.issueOps.acquireFleetLock('gpu', 'acme/runner-fleets', 2, 11)).toMatchObject({ issueNumber: 1, acquiredAt: 10 });
    await store.issueOps.releaseFleetLock('gpu', 'acme/runner-fleets', 2);
    expect(await store.issueOps.fleetLocks()).toHaveLength(1);
    await store.issueOps.releaseFleetLock('gpu', 'acme/runner-fleets', 1);
    expect(await store.issueOps.acquireFleetLock('gpu', 'acme/runner-fleets', 2, 12)).toMatchObject({ issueNumber: 2 });
  });

  it('keeps applied fleets in the order they were applied, across a re-apply', async () => {
    const fleet = (name: string) => ({
      name,
      requested: ecsFleet({ name }),
      live: ecsFleet({ name, labels: ['self-hosted', name] }),
      status: 'live' as const,
      appliedSha: 'a',
      requestIssue: 1,
      updatedAt: 1,
    });
    await store.issueOps.putProvisionedFleet(fleet('b'));
    await store.issueOps.putProvisionedFleet(fleet('a'));
    await store.issueOps.putProvisionedFleet({ ...fleet('b'), status: 'draining' });
    expect((await store.issueOps.provisionedFleets()).map((entry) => [entry.name, entry.status])).toEqual([
      ['b', 'draining'],
      ['a', 'live'],
    ]);
    await store.issueOps.deleteProvisionedFleet('b');
    expect((await store.issueOps.provisionedFleets()).map((entry) => entry.name)).toEqual(['a']);
  });

  it("drops a fleet's whole backlog and leaves running jobs alone", async () => {
    const limit = { name: 'gpu', maxRunners: 1 };
    await store.admitJob(job(1), limit, 'r1', 1);
    await store.admitJob(job(2), limit, 'r2', 2);
    await store.admitJob(job(3), limit, 'r3', 3);
    const dropped = await store.abandonWaitingJobs('gpu', 4);
    expect(dropped.map((entry) => entry.jobId)).toEqual(['2', '3']);
    expect((await store.getJob('github', '2'))?.status).toBe('abandoned');
    expect((await store.getJob('github', '1'))?.status).toBe('launching');
    expect((await store.fleetCounts()).get('gpu')).toEqual({ active: 1, waiting: 0 });
  });

  it('records who changed a request, once each whatever the case, per request and across a restart', async () => {
    await store.issueOps.addRequestChanger('acme/runner-fleets', 7, 'Mallory', 5);
    await store.issueOps.addRequestChanger('acme/runner-fleets', 7, 'erin', 6);
    await store.issueOps.addRequestChanger('acme/runner-fleets', 7, 'mallory', 7);
    await store.issueOps.addRequestChanger('acme/runner-fleets', 9, 'trent', 8);
    await store.close();
    store = new SqliteStore(file);
    expect(await store.issueOps.requestChangers('acme/runner-fleets', 7)).toEqual(['Mallory', 'erin']);
    expect(await store.issueOps.requestChangers('acme/runner-fleets', 9)).toEqual(['trent']);
    expect(await store.issueOps.requestChangers('acme/other', 7)).toEqual([]);
  });

  it('upgrades a version 1 database in place, keeping its jobs', async () => {
    await store.admitJob(job(1), { name: 'gpu', maxRunners: 1 }, 'r1', 1);
    await store.close();
    const raw = new Database(file);
    raw.exec(
      UNDO_OPERATOR_SCHEMA +
        'DROP TABLE fleet_requests; DROP TABLE fleet_locks; DROP TABLE provisioned_fleets; ALTER TABLE runners DROP COLUMN warm;' +
        ' ALTER TABLE jobs DROP COLUMN unchecked_since; ALTER TABLE jobs DROP COLUMN unchecked_reported; ALTER TABLE jobs DROP COLUMN started_at;' +
        ' ALTER TABLE runners DROP COLUMN launch_spec;',
    );
    raw.pragma('user_version = 1');
    raw.close();
    store = new SqliteStore(file);
    expect((await store.getJob('github', '1'))?.status).toBe('launching');
    expect((await store.getRunner('r1'))?.warm).toBe(false);
    await store.issueOps.saveRequest(request());
    expect(await store.issueOps.getRequest('acme/runner-fleets', 7)).toBeDefined();
  });

  it('refuses a database from a newer fleetbot', async () => {
    await store.close();
    const raw = new Database(file);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => new SqliteStore(file)).toThrow(`schema version 99; this fleetbot knows up to ${SCHEMA_VERSION}`);
    store = new SqliteStore(':memory:');
  });
});
