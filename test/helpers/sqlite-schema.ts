/**
 * Takes a database at the current schema back to before the operator's-view migration, for tests that make
 * an older database by undoing the later migrations (each of them then runs again on upgrade).
 */
export const UNDO_OPERATOR_SCHEMA = [
  'DROP TABLE drained_fleets',
  'DROP TABLE task_passes',
  'DROP INDEX jobs_by_fleet_receipt',
  'DROP INDEX runners_by_creation',
  'DROP INDEX runners_by_fleet_creation',
  ...['queued_at', 'claimed_at', 'launch_requested_at', 'launched_at', 'completed_at'].map(
    (column) => `ALTER TABLE jobs DROP COLUMN ${column}`,
  ),
  ...['launched_at', 'released_at', 'hourly_price_dollars', 'spot'].map((column) => `ALTER TABLE runners DROP COLUMN ${column}`),
]
  .map((statement) => `${statement};`)
  .join(' ');
