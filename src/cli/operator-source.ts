import type { DrainResult, JobQuery, JobView, OperatorView, RunnerView, StatusView } from '../operator/types.js';
import { UnknownFleetError } from '../operator/types.js';
import { CommandError, UsageError } from './command.js';

/**
 * What the operator commands (status, jobs, runners, drain, undrain) read and change, from either place
 * it lives: the store itself (the app's read model over it), or a running app's JSON API (`--url`).
 */
export interface OperatorSource {
  status(): Promise<StatusView>;
  jobs(query: JobQuery): Promise<JobView[]>;
  runners(fleet?: string): Promise<RunnerView[]>;
  drain(fleet: string): Promise<DrainResult>;
  undrain(fleet: string): Promise<DrainResult>;
  close(): Promise<void>;
}

/** The read model over the store; an unknown fleet is the user's mistake (exit 2), as it is over HTTP. */
export function viewSource(view: OperatorView, close: () => Promise<void>): OperatorSource {
  const change = async (fleet: string, act: (fleet: string) => Promise<DrainResult>) => {
    try {
      return await act(fleet);
    } catch (error) {
      if (error instanceof UnknownFleetError) throw new UsageError(error.message);
      throw error;
    }
  };
  return {
    status: () => view.status(),
    jobs: (query) => view.jobs(query),
    runners: (fleet) => view.runners(fleet === undefined ? {} : { fleet }),
    drain: (fleet) => change(fleet, (name) => view.drain(name)),
    undrain: (fleet) => change(fleet, (name) => view.undrain(name)),
    close,
  };
}

/** The app's JSON API (the dashboard's), with its bearer token. */
export function httpSource(baseUrl: string, token: string | undefined, fetchFn: typeof fetch = fetch): OperatorSource {
  const base = baseUrl.replace(/\/+$/, '');
  async function call<T>(method: 'GET' | 'POST', path: string): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    let response: Response;
    try {
      response = await fetchFn(`${base}${path}`, { method, headers });
    } catch (error) {
      throw new CommandError(`cannot reach ${base}: ${(error as Error).cause ?? (error as Error).message}`);
    }
    const text = await response.text();
    if (!response.ok) throw httpError(response.status, text, base, Boolean(token));
    try {
      return JSON.parse(text) as T;
    } catch {
      // A sign-in page of a proxy in front of the app, or another server altogether.
      throw new CommandError(`${base}${path} answered ${response.status} with something other than JSON: is --url the app's address?`);
    }
  }
  const query = (entries: Record<string, string | number | undefined>) => {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(entries)) if (value !== undefined) params.set(name, String(value));
    const text = params.toString();
    return text === '' ? '' : `?${text}`;
  };
  const fleetPath = (fleet: string, action: string) => `/api/fleets/${encodeURIComponent(fleet)}/${action}`;
  return {
    status: () => call('GET', '/api/status'),
    jobs: (filter) =>
      call(
        'GET',
        `/api/jobs${query({ fleet: filter.fleet, ci: filter.ci, state: filter.status, since: filter.since, limit: filter.limit })}`,
      ),
    runners: (fleet) => call('GET', `/api/runners${query({ fleet })}`),
    drain: (fleet) => call('POST', fleetPath(fleet, 'drain')),
    undrain: (fleet) => call('POST', fleetPath(fleet, 'undrain')),
    close: async () => undefined,
  };
}

function httpError(status: number, body: string, base: string, hadToken: boolean): CommandError {
  if (status === 401) {
    const why = hadToken ? 'the app does not accept this token' : 'no token was given';
    return new CommandError(`${base} answered 401: ${why}; pass --token or set FLEETBOT_DASHBOARD_TOKEN to the app's dashboard token`);
  }
  let apiError: string | undefined;
  try {
    const parsed = (JSON.parse(body) as { error?: unknown }).error;
    apiError = typeof parsed === 'string' ? parsed : undefined;
  } catch {
    // Not JSON: a proxy's page, or an app without the API.
  }
  // The API's 404 names an unknown fleet: a wrong argument, as in store mode.
  if (status === 404 && apiError !== undefined) return new UsageError(apiError);
  const detail = apiError ?? body.trim().slice(0, 300);
  return new CommandError(`${base} answered ${status}${detail === '' ? '' : `: ${detail}`}`);
}
