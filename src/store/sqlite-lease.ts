import { hostname } from 'node:os';
import type Database from 'better-sqlite3';
import type { Lease } from './types.js';

/**
 * Tables added by the leases migration: named leases with their fencing tokens, and the locks under which
 * IssueOps requests are worked. Each row says which process took it (host and pid), see `processIsGone`.
 */
export const LEASES_SCHEMA = `
CREATE TABLE IF NOT EXISTS leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  token INTEGER NOT NULL,
  held_until INTEGER NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_request_locks (
  repo TEXT NOT NULL,
  issue_number INTEGER NOT NULL,
  holder TEXT NOT NULL,
  locked_until INTEGER NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  PRIMARY KEY (repo, issue_number)
);
`;

/** Which process this is, as lease and lock rows record it. */
export const THIS_PROCESS = { host: hostname(), pid: process.pid };

/**
 * A SQLite file is shared only by processes of one host (WAL needs shared memory), so a row taken by a
 * process of this host that no longer exists is free at once: a restart after a crash or a kill does not
 * wait out the lease. (A pid reused meanwhile only keeps the row until it expires, as on any store.)
 */
export function processIsGone(row: { host: string; pid: number }): boolean {
  if (row.host !== THIS_PROCESS.host || row.pid === THIS_PROCESS.pid) return false;
  try {
    process.kill(row.pid, 0);
    return false;
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

interface LeaseRow {
  name: string;
  holder: string;
  token: number;
  held_until: number;
  host: string;
  pid: number;
}

/** Leases in the job store's file: one row per name, its token counting every change of holder. */
export class SqliteLease implements Lease {
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      get: db.prepare<[string], LeaseRow>('SELECT * FROM leases WHERE name = ?'),
      renew: db.prepare<[number, string]>('UPDATE leases SET held_until = ? WHERE name = ?'),
      take: db.prepare(
        `INSERT INTO leases (name, holder, token, held_until, host, pid) VALUES (@name, @holder, 1, @heldUntil, @host, @pid)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = token + 1, held_until = excluded.held_until,
           host = excluded.host, pid = excluded.pid`,
      ),
      release: db.prepare<[string, string, number]>('UPDATE leases SET held_until = 0 WHERE name = ? AND holder = ? AND token = ?'),
    };
  }

  async acquire(name: string, holder: string, ttlMs: number, now: number): Promise<number | undefined> {
    return this.db
      .transaction(() => {
        const row = this.statements.get.get(name);
        const heldUntil = now + ttlMs;
        if (row && row.holder === holder && row.held_until > now) {
          this.statements.renew.run(heldUntil, name);
          return row.token;
        }
        if (row && row.held_until > now && !processIsGone(row)) return undefined;
        this.statements.take.run({ name, holder, heldUntil, ...THIS_PROCESS });
        return this.statements.get.get(name)!.token;
      })
      .immediate();
  }

  async release(name: string, holder: string, token: number): Promise<void> {
    this.statements.release.run(name, holder, token);
  }

  async holds(name: string, holder: string, token: number, now: number): Promise<boolean> {
    const row = this.statements.get.get(name);
    return row !== undefined && row.holder === holder && row.token === token && row.held_until > now;
  }
}
