import { CI_SYSTEMS, type CiSystem } from '../fleets/spec.js';
import type { JobQuery } from '../operator/types.js';
import { DEFAULT_JOB_LIMIT, MAX_JOB_LIMIT } from '../operator/view.js';
import { JOB_STATUSES } from '../store/types.js';

/** A query's parameters, or every problem with them, one line each (a 400 lists them all). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: string[] };

function unknownParameters(params: URLSearchParams, known: readonly string[]): string[] {
  const names = new Set(params.keys());
  return [...names].filter((name) => !known.includes(name)).map((name) => `${name}: unknown parameter (known: ${known.join(', ')})`);
}

function oneOf<T extends string>(params: URLSearchParams, name: string, allowed: readonly T[], problems: string[]): T | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  problems.push(`${name}: "${value}" is not one of ${allowed.join(', ')}`);
  return undefined;
}

function integer(params: URLSearchParams, name: string, range: { min: number; max: number }, problems: string[]): number | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (Number.isSafeInteger(number) && number >= range.min && number <= range.max) return number;
  problems.push(`${name}: "${value}" is not a whole number from ${range.min} to ${range.max}`);
  return undefined;
}

/** `GET /api/jobs?fleet=&ci=&state=&since=<epoch ms>&limit=`. */
export function parseJobQuery(params: URLSearchParams): Parsed<JobQuery> {
  return jobQuery(params, ['fleet', 'ci', 'state', 'since', 'limit']);
}

/** The dashboard's job filters: fleet, CI system and state (it shows the last 200 jobs). */
export function parsePageQuery(params: URLSearchParams): Parsed<JobQuery> {
  return jobQuery(params, ['fleet', 'ci', 'state']);
}

function jobQuery(params: URLSearchParams, known: readonly string[]): Parsed<JobQuery> {
  const problems = unknownParameters(params, known);
  const query: JobQuery = {
    fleet: params.get('fleet') || undefined,
    ci: oneOf<CiSystem>(params, 'ci', CI_SYSTEMS, problems),
    status: oneOf(params, 'state', JOB_STATUSES, problems),
    since: integer(params, 'since', { min: 0, max: Number.MAX_SAFE_INTEGER }, problems),
    limit: integer(params, 'limit', { min: 1, max: MAX_JOB_LIMIT }, problems) ?? DEFAULT_JOB_LIMIT,
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: query };
}

/** `GET /api/runners?fleet=`. */
export function parseRunnerQuery(params: URLSearchParams): Parsed<{ fleet?: string }> {
  const problems = unknownParameters(params, ['fleet']);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: { fleet: params.get('fleet') || undefined } };
}
