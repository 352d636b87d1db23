import type Database from 'better-sqlite3';
import { fleetSpecSchema } from '../fleets/spec.js';
import { processIsGone, THIS_PROCESS } from './sqlite-lease.js';
import { requestRow, toRequest, type RequestRow } from './request-rows.js';
import type { FleetLock, FleetRequestRecord, IssueOpsStore, ProvisionedFleet, ProvisionedStatus } from './types.js';

/** Tables added by schema version 2. */
export const ISSUEOPS_SCHEMA = `
CREATE TABLE fleet_requests (
  repo TEXT NOT NULL,
  issue_number INTEGER NOT NULL,
  kind TEXT NOT NULL,
  installation_id INTEGER NOT NULL,
  author TEXT NOT NULL,
  fleet TEXT,
  status TEXT NOT NULL,
  detail TEXT,
  spec TEXT,
  pr_number INTEGER,
  branch TEXT,
  planned_sha TEXT,
  plan_file TEXT,
  planned_at INTEGER,
  plan_summary TEXT,
  applied_sha TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (repo, issue_number)
);
CREATE UNIQUE INDEX fleet_requests_by_pull ON fleet_requests (repo, pr_number) WHERE pr_number IS NOT NULL;
CREATE TABLE fleet_locks (
  fleet TEXT PRIMARY KEY,
  repo TEXT NOT NULL,
  issue_number INTEGER NOT NULL,
  acquired_at INTEGER NOT NULL
);
CREATE TABLE provisioned_fleets (
  name TEXT PRIMARY KEY,
  requested TEXT NOT NULL,
  live TEXT NOT NULL,
  status TEXT NOT NULL,
  applied_sha TEXT NOT NULL,
  request_issue INTEGER NOT NULL,
  applied_order INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
`;

/**
 * Who changed a request after it was filed (its issue's editors, its branch's pushers): none of them may
 * approve it. Created by the IssueOps store itself, idempotently, so it needs no job-store migration.
 */
const REQUEST_CHANGERS_SCHEMA = `
CREATE TABLE IF NOT EXISTS fleet_request_changers (
  repo TEXT NOT NULL,
  issue_number INTEGER NOT NULL,
  login TEXT NOT NULL COLLATE NOCASE,
  first_seen INTEGER NOT NULL,
  PRIMARY KEY (repo, issue_number, login)
);
`;

interface LockRow {
  fleet: string;
  repo: string;
  issue_number: number;
  acquired_at: number;
}

interface RequestLockRow {
  holder: string;
  locked_until: number;
  host: string;
  pid: number;
}

interface ProvisionedRow {
  name: string;
  requested: string;
  live: string;
  status: ProvisionedStatus;
  applied_sha: string;
  request_issue: number;
  updated_at: number;
}

function toLock(row: LockRow): FleetLock {
  return { fleet: row.fleet, repo: row.repo, issueNumber: row.issue_number, acquiredAt: row.acquired_at };
}

/** The statements of request locks (the leases migration's table). */
function prepareRequestLocks(db: Database.Database) {
  return {
    get: db.prepare<[string, number], RequestLockRow>(
      'SELECT holder, locked_until, host, pid FROM fleet_request_locks WHERE repo = ? AND issue_number = ?',
    ),
    put: db.prepare(
      `INSERT INTO fleet_request_locks (repo, issue_number, holder, locked_until, host, pid)
         VALUES (@repo, @issueNumber, @holder, @lockedUntil, @host, @pid)
         ON CONFLICT (repo, issue_number) DO UPDATE SET holder = excluded.holder, locked_until = excluded.locked_until,
           host = excluded.host, pid = excluded.pid`,
    ),
    delete: db.prepare<[string, number, string]>('DELETE FROM fleet_request_locks WHERE repo = ? AND issue_number = ? AND holder = ?'),
  };
}

/** IssueOps state in the same SQLite file as the job path's. */
export class SqliteIssueOpsStore implements IssueOpsStore {
  private readonly statements;
  private readonly requestLocks;

  constructor(private readonly db: Database.Database) {
    db.exec(REQUEST_CHANGERS_SCHEMA);
    this.requestLocks = prepareRequestLocks(db);
    this.statements = {
      addChanger: db.prepare(
        `INSERT INTO fleet_request_changers (repo, issue_number, login, first_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      changers: db.prepare<[string, number], { login: string }>(
        'SELECT login FROM fleet_request_changers WHERE repo = ? AND issue_number = ? ORDER BY first_seen, rowid',
      ),
      getRequest: db.prepare<[string, number], RequestRow>('SELECT * FROM fleet_requests WHERE repo = ? AND issue_number = ?'),
      getRequestByPull: db.prepare<[string, number], RequestRow>('SELECT * FROM fleet_requests WHERE repo = ? AND pr_number = ?'),
      saveRequest: db.prepare(
        `INSERT INTO fleet_requests (repo, issue_number, kind, installation_id, author, fleet, status, detail, spec,
           pr_number, branch, planned_sha, plan_file, planned_at, plan_summary, applied_sha, created_at, updated_at)
         VALUES (@repo, @issue_number, @kind, @installation_id, @author, @fleet, @status, @detail, @spec,
           @pr_number, @branch, @planned_sha, @plan_file, @planned_at, @plan_summary, @applied_sha, @created_at, @updated_at)
         ON CONFLICT (repo, issue_number) DO UPDATE SET kind = excluded.kind, installation_id = excluded.installation_id,
           author = excluded.author, fleet = excluded.fleet, status = excluded.status, detail = excluded.detail,
           spec = excluded.spec, pr_number = excluded.pr_number, branch = excluded.branch,
           planned_sha = excluded.planned_sha, plan_file = excluded.plan_file, planned_at = excluded.planned_at,
           plan_summary = excluded.plan_summary, applied_sha = excluded.applied_sha, updated_at = excluded.updated_at`,
      ),
      all: db.prepare<[], RequestRow>('SELECT * FROM fleet_requests ORDER BY created_at, rowid'),
      unfinished: db.prepare<[], RequestRow>("SELECT * FROM fleet_requests WHERE status IN ('planning', 'applying') ORDER BY updated_at"),
      // A handful of rows per fleet ever requested: read whole, no index needed.
      recent: db.prepare<[number], RequestRow>('SELECT * FROM fleet_requests ORDER BY updated_at DESC, rowid DESC LIMIT ?'),
      insertLock: db.prepare(
        `INSERT INTO fleet_locks (fleet, repo, issue_number, acquired_at) VALUES (@fleet, @repo, @issueNumber, @now)
         ON CONFLICT DO NOTHING`,
      ),
      getLock: db.prepare<[string], LockRow>('SELECT * FROM fleet_locks WHERE fleet = ?'),
      deleteLock: db.prepare('DELETE FROM fleet_locks WHERE fleet = ? AND repo = ? AND issue_number = ?'),
      allLocks: db.prepare<[], LockRow>('SELECT * FROM fleet_locks ORDER BY acquired_at'),
      allProvisioned: db.prepare<[], ProvisionedRow>('SELECT * FROM provisioned_fleets ORDER BY applied_order'),
      putProvisioned: db.prepare(
        `INSERT INTO provisioned_fleets (name, requested, live, status, applied_sha, request_issue, applied_order, updated_at)
         VALUES (@name, @requested, @live, @status, @appliedSha, @requestIssue,
           (SELECT COALESCE(MAX(applied_order), 0) + 1 FROM provisioned_fleets), @updatedAt)
         ON CONFLICT (name) DO UPDATE SET requested = excluded.requested, live = excluded.live, status = excluded.status,
           applied_sha = excluded.applied_sha, request_issue = excluded.request_issue, updated_at = excluded.updated_at`,
      ),
      deleteProvisioned: db.prepare('DELETE FROM provisioned_fleets WHERE name = ?'),
    };
  }

  async getRequest(repo: string, issueNumber: number): Promise<FleetRequestRecord | undefined> {
    const row = this.statements.getRequest.get(repo, issueNumber);
    return row && toRequest(row);
  }

  async getRequestByPull(repo: string, prNumber: number): Promise<FleetRequestRecord | undefined> {
    const row = this.statements.getRequestByPull.get(repo, prNumber);
    return row && toRequest(row);
  }

  async saveRequest(request: FleetRequestRecord): Promise<void> {
    this.statements.saveRequest.run(requestRow(request));
  }

  /** Every request, oldest first (store:migrate copies them). */
  allRequests(): FleetRequestRecord[] {
    return this.statements.all.all().map(toRequest);
  }

  async unfinishedRequests(): Promise<FleetRequestRecord[]> {
    return this.statements.unfinished.all().map(toRequest);
  }

  async recentRequests(limit: number): Promise<FleetRequestRecord[]> {
    return this.statements.recent.all(limit).map(toRequest);
  }

  async acquireFleetLock(fleet: string, repo: string, issueNumber: number, now: number): Promise<FleetLock> {
    return this.db
      .transaction(() => {
        this.statements.insertLock.run({ fleet, repo, issueNumber, now });
        // The lock is this request's or another's: a row is there either way, within this transaction.
        const row = this.statements.getLock.get(fleet);
        if (!row) throw new Error(`the lock of fleet ${fleet} is missing right after it was taken`);
        return toLock(row);
      })
      .immediate();
  }

  async releaseFleetLock(fleet: string, repo: string, issueNumber: number): Promise<void> {
    this.statements.deleteLock.run(fleet, repo, issueNumber);
  }

  async fleetLocks(): Promise<FleetLock[]> {
    return this.statements.allLocks.all().map(toLock);
  }

  async provisionedFleets(): Promise<ProvisionedFleet[]> {
    return this.statements.allProvisioned.all().map((row) => ({
      name: row.name,
      requested: fleetSpecSchema.parse(JSON.parse(row.requested)),
      live: fleetSpecSchema.parse(JSON.parse(row.live)),
      status: row.status,
      appliedSha: row.applied_sha,
      requestIssue: row.request_issue,
      updatedAt: row.updated_at,
    }));
  }

  async putProvisionedFleet(fleet: ProvisionedFleet): Promise<void> {
    this.statements.putProvisioned.run({
      ...fleet,
      requested: JSON.stringify(fleet.requested),
      live: JSON.stringify(fleet.live),
    });
  }

  async deleteProvisionedFleet(name: string): Promise<void> {
    this.statements.deleteProvisioned.run(name);
  }

  async addRequestChanger(repo: string, issueNumber: number, login: string, now: number): Promise<void> {
    this.statements.addChanger.run(repo, issueNumber, login, now);
  }

  async requestChangers(repo: string, issueNumber: number): Promise<string[]> {
    return this.statements.changers.all(repo, issueNumber).map((row) => row.login);
  }

  async lockRequest(repo: string, issueNumber: number, holder: string, ttlMs: number, now: number): Promise<boolean> {
    return this.db
      .transaction(() => {
        const row = this.requestLocks.get.get(repo, issueNumber);
        if (row && row.holder !== holder && row.locked_until > now && !processIsGone(row)) return false;
        this.requestLocks.put.run({ repo, issueNumber, holder, lockedUntil: now + ttlMs, ...THIS_PROCESS });
        return true;
      })
      .immediate();
  }

  async unlockRequest(repo: string, issueNumber: number, holder: string): Promise<void> {
    this.requestLocks.delete.run(repo, issueNumber, holder);
  }
}
