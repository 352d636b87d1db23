import type { CliContext } from './command.js';

/** One column of a table: its header and how a row shows in it. */
export interface Column<Row> {
  header: string;
  value(row: Row): string;
  /** Numbers read better right-aligned. */
  align?: 'right';
}

/** Rows as aligned text columns under their headers, two spaces apart; no trailing spaces. */
export function formatTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((column) => column.value(row)));
  const widths = columns.map((column, index) => Math.max(column.header.length, ...cells.map((line) => line[index].length)));
  const line = (values: string[]) =>
    values
      .map((value, index) => (columns[index].align === 'right' ? value.padStart(widths[index]) : value.padEnd(widths[index])))
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.header)), ...cells.map(line)].join('\n');
}

/** `--json`: the value as scripts read it; otherwise the human-readable rendering. */
export function printResult<Value>(context: CliContext, json: boolean | undefined, value: Value, render: (value: Value) => string): void {
  context.out(json ? JSON.stringify(value, null, 2) : render(value));
}

/** Seconds as the largest two units that matter: 45s, 3m12s, 2h05m, 3d4h. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '-';
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  if (whole < 86_400) return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(whole / 86_400)}d${Math.floor((whole % 86_400) / 3600)}h`;
}

/** An epoch-ms time as UTC to the second, or "-". */
export function formatTime(epochMs: number | null): string {
  return epochMs === null ? '-' : new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
