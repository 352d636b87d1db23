import { UsageError } from './command.js';

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: a span back from now (30m, 2h, 1d) or an ISO time (2026-12-05T06:00:00Z); the epoch ms it
 * names. Anything else is a usage error that quotes it.
 */
export function parseSince(text: string, now: number, option = '--since'): number {
  const span = /^(\d+)([mhd])$/.exec(text);
  if (span) return now - Number(span[1]) * UNIT_MS[span[2]];
  // Date.parse takes "1" or "May 5"; only ISO dates (YYYY-MM-DD, with a time or not) are meant here.
  const at = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at))
    throw new UsageError(`${option} "${text}" is neither a span like 30m, 2h or 1d nor an ISO time like 2026-12-05T06:00:00Z`);
  return at;
}

/** `--limit`: a whole number from 1 to `max`. */
export function parseLimit(text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1 || limit > max) throw new UsageError(`--limit "${text}" is not a whole number from 1 to ${max}`);
  return limit;
}
