import type Database from 'better-sqlite3';
import type { DeliveryLog } from './types.js';

/**
 * Tables added by the delivery-recovery migration: named values (the recovery watermark) and webhook
 * delivery GUIDs, by what was done with them (`recovered`: redelivery asked for; `handled`: IssueOps ran it).
 */
export const DELIVERIES_SCHEMA = `
CREATE TABLE IF NOT EXISTS app_values (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  guid TEXT NOT NULL,
  use TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (guid, use)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_at ON webhook_deliveries (at);
`;

const WATERMARK_KEY = 'github.deliveries.watermark';

/** Delivery GUIDs and the recovery watermark, in the job store's file. */
export class SqliteDeliveryLog implements DeliveryLog {
  private readonly statements;

  constructor(db: Database.Database) {
    this.statements = {
      getValue: db.prepare<[string], { value: string }>('SELECT value FROM app_values WHERE key = ?'),
      putValue: db.prepare<[string, string]>(
        'INSERT INTO app_values (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      insertGuid: db.prepare<[string, string, number]>(
        'INSERT INTO webhook_deliveries (guid, use, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      deleteGuid: db.prepare<[string, string]>('DELETE FROM webhook_deliveries WHERE guid = ? AND use = ?'),
      hasGuid: db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE guid = ? AND use = ?'),
      // GitHub keeps deliveries 3 days; a GUID older than that can never come again.
      pruneGuids: db.prepare<[number]>('DELETE FROM webhook_deliveries WHERE at < ?'),
    };
  }

  async recoveryWatermark(): Promise<number | undefined> {
    const row = this.statements.getValue.get(WATERMARK_KEY);
    return row ? Number(row.value) : undefined;
  }

  async setRecoveryWatermark(at: number): Promise<void> {
    this.statements.putValue.run(WATERMARK_KEY, String(at));
  }

  async wasRecovered(guid: string): Promise<boolean> {
    return this.statements.hasGuid.get(guid, 'recovered')!.n > 0;
  }

  async markRecovered(guid: string, now: number): Promise<void> {
    this.statements.insertGuid.run(guid, 'recovered', now);
  }

  async claimHandling(guid: string, now: number): Promise<boolean> {
    return this.statements.insertGuid.run(guid, 'handled', now).changes > 0;
  }

  async releaseHandling(guid: string): Promise<void> {
    this.statements.deleteGuid.run(guid, 'handled');
  }

  async pruneBefore(at: number): Promise<void> {
    this.statements.pruneGuids.run(at);
  }
}
