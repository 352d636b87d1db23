import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqlite.js';
import type { IssueOpsStore } from './types.js';

/** What store:migrate did with IssueOps' records: copied, or left as the table already had them. */
export interface IssueOpsImportCounts {
  requests: { copied: number; skipped: number };
  provisionedFleets: { copied: number; skipped: number };
  fleetLocks: { copied: number; skipped: number };
  changers: number;
}

/**
 * Copies IssueOps' state of a SQLite store into another store: requests (with who changed them), applied
 * fleets, and fleet locks. A record the target already has is left as it is (a replica may have moved
 * it on since), so a second run copies nothing. Request locks are not copied: they belong to a process
 * working a request, and the SQLite app is stopped.
 *
 * The file is read through a snapshot (SQLite's online backup, WAL included) brought to the current
 * schema in a temporary directory: the source is never written, whatever schema version it is at.
 */
export async function importIssueOpsState(file: string, target: IssueOpsStore, now: number): Promise<IssueOpsImportCounts> {
  const directory = mkdtempSync(join(tmpdir(), 'fleetbot-migrate-'));
  const snapshotFile = join(directory, 'snapshot.db');
  try {
    const source = new Database(file, { readonly: true, fileMustExist: true });
    try {
      await source.backup(snapshotFile);
    } finally {
      source.close();
    }
    const snapshot = new SqliteStore(snapshotFile);
    try {
      return await copyState(snapshot, target, now);
    } finally {
      await snapshot.close();
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

async function copyState(snapshot: SqliteStore, target: IssueOpsStore, now: number): Promise<IssueOpsImportCounts> {
  const counts: IssueOpsImportCounts = {
    requests: { copied: 0, skipped: 0 },
    provisionedFleets: { copied: 0, skipped: 0 },
    fleetLocks: { copied: 0, skipped: 0 },
    changers: 0,
  };
  for (const request of snapshot.issueOps.allRequests()) {
    const there = await target.getRequest(request.repo, request.issueNumber);
    if (there) {
      counts.requests.skipped++;
      continue;
    }
    await target.saveRequest(request);
    counts.requests.copied++;
    for (const login of await snapshot.issueOps.requestChangers(request.repo, request.issueNumber)) {
      await target.addRequestChanger(request.repo, request.issueNumber, login, now);
      counts.changers++;
    }
  }
  const applied = new Set((await target.provisionedFleets()).map((fleet) => fleet.name));
  for (const fleet of await snapshot.issueOps.provisionedFleets()) {
    const tally = counts.provisionedFleets;
    if (applied.has(fleet.name)) tally.skipped++;
    else {
      await target.putProvisionedFleet(fleet);
      tally.copied++;
    }
  }
  const locked = new Set((await target.fleetLocks()).map((lock) => lock.fleet));
  for (const lock of await snapshot.issueOps.fleetLocks()) {
    // A fleet locked in the table already (by this request or another) keeps its lock.
    if (locked.has(lock.fleet)) counts.fleetLocks.skipped++;
    else {
      await target.acquireFleetLock(lock.fleet, lock.repo, lock.issueNumber, lock.acquiredAt);
      counts.fleetLocks.copied++;
    }
  }
  return counts;
}
