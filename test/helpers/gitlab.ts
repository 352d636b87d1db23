import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { pino } from 'pino';
import type { z } from 'zod';
import { connectGitHub } from '../../src/ci/github-webhook.js';
import { GitLabApi } from '../../src/ci/gitlab.js';
import { connectGitLab } from '../../src/ci/gitlab-webhook.js';
import { EcsBackend } from '../../src/compute/ecs.js';
import { routerFor } from './compute-router.js';
import { FleetRegistry } from '../../src/fleets/registry.js';
import { fleetSpecSchema, type FleetSpec, type gitlabSettingsSchema } from '../../src/fleets/spec.js';
import { createFleetbot, type Fleetbot } from '../../src/index.js';
import { SECRET_HEADER_REDACTION } from '../../src/log.js';
import { CachedSecretParameters } from '../../src/secrets/parameters.js';
import { RunnerSecrets } from '../../src/secrets/ssm.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { clientsFor, ecsCompute, type RunnerInfra } from './aws-fixture.js';
import { jobResponse } from './gitlab-payloads.js';
import type { Moto } from './moto.js';
import { serveOnProbot } from './probot-server.js';
import { logLines } from './log-lines.js';

interface FakeJob {
  status: string;
  tags: string[];
}

/**
 * A local GitLab REST API serving `GET /api/v4/projects/:id/jobs/:job_id` and the pending-jobs listing
 * `GET /api/v4/projects/:id/jobs?scope[]=pending` (by id or URL-encoded path, newest first, paginated as
 * GitLab does), with failures on demand.
 */
export class FakeGitLab {
  readonly jobs = new Map<string, FakeJob>();
  /** Every request, as `METHOD path?query`. */
  readonly requests: string[] = [];
  /** Projects known by their full path, to their ids. */
  readonly paths = new Map<string, number>();
  /** Projects (id or path, as requested) whose every request is answered with this status. */
  readonly failingProjects = new Map<string, number>();
  /** Listings are served this many jobs a page at most (GitLab's per_page is capped at 100). */
  pageSize = 100;
  /** How the next page is named: GitLab's `x-next-page` header, or only a `Link` header's rel="next". */
  pagination: 'x-next-page' | 'link' = 'x-next-page';
  private failures: number[] = [];

  private constructor(
    private readonly server: HttpServer,
    readonly url: string,
    readonly apiToken: string,
  ) {}

  static async start(apiToken: string): Promise<FakeGitLab> {
    let fake: FakeGitLab | undefined;
    const server = createServer((request, response) =>
      fake!.answer(request.method ?? '', request.url ?? '', request.headers['private-token'], response),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new FakeGitLab(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiToken);
    return fake;
  }

  addJob(projectId: number, buildId: number, status: string, tags: string[]): void {
    this.jobs.set(`${projectId}/${buildId}`, { status, tags });
  }

  /** The next requests answer these statuses, in order. */
  failNext(...statuses: number[]): void {
    this.failures.push(...statuses);
  }

  /** Requests of the pending-jobs listing, for a project as requested (id, or encoded path). */
  listings(project: number | string): string[] {
    return this.requests.filter((request) => request.startsWith(`GET /api/v4/projects/${project}/jobs?`));
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server.close(resolve));
  }

  private answer(method: string, target: string, token: string | string[] | undefined, response: ServerResponse): void {
    this.requests.push(`${method} ${target}`);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    const url = new URL(target, this.url);
    const project = /^\/api\/v4\/projects\/([^/]+)\//.exec(url.pathname)?.[1];
    const failure = this.failures.shift() ?? (project === undefined ? undefined : this.failingProjects.get(project));
    const single = /^\/api\/v4\/projects\/(\d+)\/jobs\/(\d+)$/.exec(url.pathname);
    const job = single && this.jobs.get(`${single[1]}/${single[2]}`);
    if (failure !== undefined) send(failure, { message: `${failure} injected` });
    else if (token !== this.apiToken) send(401, { message: '401 Unauthorized' });
    else if (method === 'GET' && url.pathname === '/api/v4/user') send(200, { id: 7, username: 'fleetbot-reader' });
    else if (method === 'GET' && single && job) send(200, jobResponse(Number(single[2]), job.status, job.tags));
    else if (method === 'GET' && url.pathname.endsWith('/jobs') && project !== undefined) this.list(url, decodeURIComponent(project), send);
    else send(404, { message: '404 Not found' });
  }

  private list(url: URL, project: string, send: (status: number, body: unknown, headers?: Record<string, string>) => void): void {
    const projectId = /^\d+$/.test(project) ? Number(project) : this.paths.get(project);
    if (projectId === undefined) return send(404, { message: '404 Project Not Found' });
    const scopes = url.searchParams.getAll('scope[]');
    const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 20), this.pageSize);
    const page = Number(url.searchParams.get('page') ?? 1);
    const listed = [...this.jobs]
      .map(([key, job]) => ({ key: key.split('/').map(Number), job }))
      .filter(({ key: [id], job }) => id === projectId && (scopes.length === 0 || scopes.includes(job.status)))
      .sort((a, b) => b.key[1]! - a.key[1]!)
      .map(({ key: [, buildId], job }) => ({ ...jobResponse(buildId!, job.status, job.tags), pipeline: { id: 1, project_id: projectId } }));
    const body = listed.slice((page - 1) * perPage, page * perPage);
    const next = page * perPage < listed.length ? String(page + 1) : '';
    const nextUrl = new URL(url.href);
    nextUrl.searchParams.set('page', next);
    const headers: Record<string, string> =
      this.pagination === 'x-next-page'
        ? { 'x-next-page': next, 'x-page': String(page), 'x-per-page': String(perPage) }
        : next
          ? { link: `<${nextUrl.href}>; rel="next", <${url.href}>; rel="first"` }
          : {};
    send(200, body, headers);
  }
}

/** The secrets a GitLab fleet names, with test values that never appear anywhere else. */
export interface GitLabSecrets {
  runnerToken: string;
  apiToken: string;
  webhookSecret: string;
}

export function newGitLabSecrets(): GitLabSecrets {
  return {
    runnerToken: `glrt-${randomUUID().replaceAll('-', '')}`,
    apiToken: `glpat-${randomUUID().replaceAll('-', '').slice(0, 20)}`,
    webhookSecret: `hook-${randomUUID()}`,
  };
}

/** Stores the secrets in moto as SecureStrings under `/fleetbot/gitlab/<prefix>/…`, as an operator would. */
export async function putGitLabSecrets(moto: Moto, prefix: string, secrets: GitLabSecrets) {
  const { ssm } = clientsFor(moto);
  const names = {
    tokenParameter: `/fleetbot/gitlab/${prefix}/runner-token`,
    apiTokenParameter: `/fleetbot/gitlab/${prefix}/api-token`,
    webhookSecretParameter: `/fleetbot/gitlab/${prefix}/webhook-secret`,
  };
  const values = [secrets.runnerToken, secrets.apiToken, secrets.webhookSecret];
  for (const [index, name] of Object.values(names).entries()) {
    await ssm.send(new PutParameterCommand({ Name: name, Value: values[index], Type: 'SecureString', Overwrite: true }));
  }
  return names;
}

export function gitlabFleet(
  infra: RunnerInfra,
  gitlab: z.input<typeof gitlabSettingsSchema>,
  overrides: { name?: string; labels?: string[]; maxRunners?: number } = {},
): FleetSpec {
  return fleetSpecSchema.parse({
    name: overrides.name ?? 'gl-linux',
    ci: 'gitlab',
    labels: overrides.labels ?? ['linux', 'docker'],
    maxRunners: overrides.maxRunners ?? 10,
    gitlab,
    compute: ecsCompute(infra),
  });
}

/** The `message` of one of the webhook route's JSON answers. */
export async function messageOf(response: Response): Promise<string> {
  return ((await response.json()) as { message: string }).message;
}

export interface GitLabAppUnderTest {
  url: string;
  fleetbot: Fleetbot;
  store: SqliteStore;
  logs: string[];
  /** Posts a Job Hook delivery; `headers` replace the defaults (token, event name, a fresh UUID). */
  post(payload: unknown, headers?: Record<string, string | undefined>, rawBody?: string): Promise<Response>;
  close(): Promise<void>;
}

/** The app in-process on a real HTTP server, wired as `npm start` wires a GitLab fleet, against moto. */
export async function startGitLabApp(options: { moto: Moto; fleets: FleetSpec[]; webhookSecret: string }): Promise<GitLabAppUnderTest> {
  const { lines: logs, sink } = logLines();
  const log = pino({ level: 'debug' }, sink).child({}, { redact: SECRET_HEADER_REDACTION });
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'fleetbot-gitlab-')), 'fleetbot.db'));
  const aws = clientsFor(options.moto);
  const secrets = new RunnerSecrets(aws.ssm);
  const fleetbot = createFleetbot({
    store,
    fleets: new FleetRegistry(options.fleets),
    compute: routerFor({ ecs: new EcsBackend(aws.ecs) }),
    credentials: secrets,
    runnerParameters: secrets,
    ciSystems: [
      connectGitHub({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }),
      connectGitLab({
        api: new GitLabApi({ attempts: 4, baseDelayMs: 1, maxDelayMs: 5 }),
        secrets: new CachedSecretParameters(aws.ssm),
        // Later reads of a job GitLab's API would not show come within the test, not minutes later.
        lateReadDelaysMs: [50, 50, 50],
      }),
    ],
    githubRetry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    launchTimeoutMs: 60_000,
  });
  const { url, server } = await serveOnProbot(fleetbot.app, log);
  return {
    url,
    fleetbot,
    store,
    logs,
    post: async (payload, headers = {}, rawBody) => {
      const defaults: Record<string, string | undefined> = {
        'content-type': 'application/json',
        'x-gitlab-event': 'Job Hook',
        'x-gitlab-token': options.webhookSecret,
        'x-gitlab-event-uuid': randomUUID(),
        'x-gitlab-instance': 'http://gitlab.example.com',
      };
      const sent = Object.fromEntries(
        Object.entries({ ...defaults, ...headers }).filter((entry): entry is [string, string] => entry[1] !== undefined),
      );
      const response = await fetch(`${url}/api/gitlab/webhooks`, {
        method: 'POST',
        headers: sent,
        body: rawBody ?? JSON.stringify(payload),
      });
      await fleetbot.idle();
      return response;
    },
    close: async () => {
      await server.stop();
      await fleetbot.stop();
      await store.close();
    },
  };
}
