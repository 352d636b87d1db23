import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CiSystem } from '../../../src/fleets/spec.js';
import {
  UnknownFleetError,
  type FleetOverview,
  type JobQuery,
  type JobView,
  type OperatorView,
  type RunnerView,
  type StatusView,
} from '../../../src/operator/types.js';
import type { JobStatus, TaskPass } from '../../../src/store/types.js';

/** Fixed data: two fleets, two runners, three jobs, one task pass; "now" is NOW. */
export const NOW = Date.parse('2026-12-05T06:00:00Z');

export function fleet(name: string, overrides: Partial<FleetOverview> = {}): FleetOverview {
  return {
    name,
    ci: 'github',
    compute: 'ecs',
    maxRunners: 10,
    active: 2,
    warm: 1,
    waiting: 3,
    drained: false,
    state: 'serving',
    ...overrides,
  };
}

export function runner(name: string, fleetName: string, overrides: Partial<RunnerView> = {}): RunnerView {
  return {
    name,
    fleet: fleetName,
    ci: 'github',
    status: 'running',
    compute: 'ecs',
    computeId: `arn:task/${name}`,
    spot: false,
    warm: false,
    ageSeconds: 125,
    jobId: `job-of-${name}`,
    createdAt: NOW - 125_000,
    ...overrides,
  };
}

export function job(jobId: string, fleetName: string | null, status: JobStatus, receivedAt: number, ci: CiSystem = 'github'): JobView {
  return {
    ci,
    jobId,
    fleet: fleetName,
    status,
    labels: ['self-hosted', 'linux'],
    runnerName: status === 'waiting' ? null : `runner-${jobId}`,
    timeline: {
      queuedAt: receivedAt - 1000,
      receivedAt,
      claimedAt: null,
      launchRequestedAt: null,
      launchedAt: null,
      startedAt: status === 'waiting' ? null : receivedAt + 40_000,
      completedAt: null,
    },
    waitSeconds: status === 'waiting' ? null : 41,
    costDollars: status === 'completed' ? 0.0123 : null,
    url: null,
  };
}

/** An OperatorView over arrays, recording drains; filters as the contract says (jobs newest first). */
export class FakeOperatorView implements OperatorView {
  fleetList: FleetOverview[] = [
    fleet('linux-small'),
    fleet('gitlab-docker', { ci: 'gitlab', compute: 'ec2', state: 'full', active: 10, warm: 0 }),
  ];
  runnerList: RunnerView[] = [
    runner('fb-linux-1', 'linux-small', { spot: true }),
    runner('fb-gitlab-1', 'gitlab-docker', { warm: true, status: 'launching' }),
  ];
  jobList: JobView[] = [
    job('101', 'linux-small', 'launched', NOW - 30 * 60_000),
    job('102', 'gitlab-docker', 'waiting', NOW - 3 * 3_600_000, 'gitlab'),
    job('103', 'linux-small', 'completed', NOW - 26 * 3_600_000),
  ];
  tasks: TaskPass[] = [
    { task: 'reconcile', holder: 'host:1:abcd', startedAt: NOW - 12_000, finishedAt: NOW - 10_000, ok: true, summary: '0 lost' },
  ];
  queries: JobQuery[] = [];
  changes: string[] = [];

  async status(): Promise<StatusView> {
    return { fleets: this.fleetList, runners: this.runnerList, tasks: this.tasks, generatedAt: NOW };
  }
  async fleets() {
    return this.fleetList;
  }
  async runners(filter: { fleet?: string } = {}) {
    return this.runnerList.filter((entry) => filter.fleet === undefined || entry.fleet === filter.fleet);
  }
  async jobs(query: JobQuery) {
    this.queries.push(query);
    return this.jobList
      .filter((entry) => query.fleet === undefined || entry.fleet === query.fleet)
      .filter((entry) => query.status === undefined || entry.status === query.status)
      .filter((entry) => query.ci === undefined || entry.ci === query.ci)
      .filter((entry) => query.since === undefined || (entry.timeline.receivedAt ?? 0) >= query.since)
      .slice(0, query.limit ?? 200);
  }
  async waitStats() {
    return [];
  }
  async costPerDay() {
    return [];
  }
  async issueOpsRequests() {
    return [];
  }
  async drain(name: string) {
    return this.setDrained(name, true);
  }
  async undrain(name: string) {
    return this.setDrained(name, false);
  }
  private setDrained(name: string, drained: boolean) {
    const entry = this.fleetList.find((candidate) => candidate.name === name);
    if (!entry) throw new UnknownFleetError(name);
    const changed = entry.drained !== drained;
    entry.drained = drained;
    entry.state = drained ? 'drained' : 'serving';
    this.changes.push(`${drained ? 'drain' : 'undrain'} ${name}`);
    return { fleet: name, drained, changed };
  }
}

/**
 * The app's JSON API as src/web/api.ts serves it, over a view: bearer token,
 * 401 without it, query parameters, 404 `{ error }` for an unknown fleet.
 */
export async function startFakeApi(
  view: OperatorView,
  token: string,
  /** Answer every request 200 with this text instead, as a proxy's sign-in page would. */
  page?: string,
): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    if (page !== undefined) response.writeHead(200, { 'content-type': 'text/html' }).end(page);
    else void answer(view, token, request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function answer(view: OperatorView, token: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const send = (status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (request.headers.authorization !== `Bearer ${token}`) return send(401, { error: 'sign in or give the dashboard token' });
  const url = new URL(request.url ?? '/', 'http://api');
  const query = url.searchParams;
  const number = (name: string) => (query.has(name) ? Number(query.get(name)) : undefined);
  const drain = /^\/api\/fleets\/([^/]+)\/(drain|undrain)$/.exec(url.pathname);
  try {
    if (request.method === 'GET' && url.pathname === '/api/status') return send(200, await view.status());
    if (request.method === 'GET' && url.pathname === '/api/runners')
      return send(200, await view.runners({ fleet: query.get('fleet') ?? undefined }));
    if (request.method === 'GET' && url.pathname === '/api/jobs') {
      const jobQuery = {
        fleet: query.get('fleet') ?? undefined,
        ci: (query.get('ci') ?? undefined) as CiSystem | undefined,
        status: (query.get('state') ?? undefined) as JobStatus | undefined,
        since: number('since'),
        limit: number('limit'),
      };
      return send(200, await view.jobs(jobQuery));
    }
    if (request.method === 'POST' && drain) {
      const name = decodeURIComponent(drain[1]);
      return send(200, drain[2] === 'drain' ? await view.drain(name) : await view.undrain(name));
    }
    send(404, { error: 'not found' });
  } catch (error) {
    if (error instanceof UnknownFleetError) return send(404, { error: error.message });
    send(500, { error: String(error) });
  }
}
