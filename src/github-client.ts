import type { ProbotOctokit } from 'probot';
import type { RetryVerdict } from './retry.js';

/** The GitHub client of one App installation, shared by the GitHub job source and IssueOps. */
export type InstallationOctokit = InstanceType<typeof ProbotOctokit>;

/**
 * GitHub errors worth another try: server errors, network failures, and rate limits (waiting as long
 * as GitHub asks). Anything else (404, 422, 401) will not get better by asking again.
 */
export function classifyGitHubError(error: unknown): RetryVerdict {
  const status = (error as { status?: unknown }).status;
  if (typeof status !== 'number') return { retry: true };
  const headers = (error as { response?: { headers?: Record<string, string | undefined> } }).response?.headers ?? {};
  const retryAfterSeconds = Number(headers['retry-after']);
  const afterMs = Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0 ? retryAfterSeconds * 1000 : undefined;
  if (status >= 500 || status === 429) return { retry: true, afterMs };
  if (status === 403 && (afterMs !== undefined || headers['x-ratelimit-remaining'] === '0')) {
    const resetAt = Number(headers['x-ratelimit-reset']) * 1000;
    return { retry: true, afterMs: afterMs ?? (Number.isFinite(resetAt) ? Math.max(0, resetAt - Date.now()) : undefined) };
  }
  return { retry: false };
}
