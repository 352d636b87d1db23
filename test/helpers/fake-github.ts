import { randomBytes } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appSettingsRoutes, defaultAppSettings, type FakeAppSettings } from './fake-github-app.js';
import { fakeDeliveries, type FakeDeliveriesApi } from './fake-github-deliveries.js';
import { apiError, RepoModel, repoRoutes, type FakeReposApi } from './fake-github-repos.js';
import { checkAgainstOpenApi, loadGitHubOpenApi } from './github-openapi.js';

export interface RecordedRequest {
  method: string;
  /** Without the `/api/v3` prefix and the query string. */
  path: string;
  query: URLSearchParams;
  /** Parsed JSON, the raw text when it is not JSON, or undefined when there was none. */
  body: unknown;
  headers: IncomingHttpHeaders;
  /** Date.now() on arrival. */
  at: number;
}

type JobStatus = 'queued' | 'in_progress' | 'completed';

/** A runner registered at an organisation (`orgs/acme`) or repository (`repos/acme/app`). */
export interface FakeRunner {
  id: number;
  name: string;
  scope: string;
  status: 'online' | 'offline';
  busy: boolean;
  labels: string[];
}

/**
 * The fake GitHub: the runner-credential endpoints, plus a model of repositories, issues, pull requests, comments,
 * labels, check runs, roles and teams (FakeReposApi, in fake-github-repos.ts) that whole IssueOps flows run against.
 */
export interface FakeGitHub extends FakeReposApi, FakeDeliveriesApi {
  /** e.g. http://127.0.0.1:54321 */
  url: string;
  /** The App's permissions, events and webhook configuration; change them in place. */
  appSettings: FakeAppSettings;
  /** url + '/api/v3': Probot's baseUrl, or what GHE_HOST=host with GHE_PROTOCOL=http amounts to. */
  apiUrl: string;
  /** e.g. 127.0.0.1:54321, for GHE_HOST. */
  host: string;
  requests: RecordedRequest[];
  requestsTo(method: string, pathPattern: RegExp): RecordedRequest[];
  /** Self-hosted runners registered with the fake: JIT configs register one, tests may add more. */
  registeredRunners(): FakeRunner[];
  /** Registers a runner as config.sh would (registration-token mode); returns its id. */
  registerRunner(scope: string, name: string, state?: Partial<Pick<FakeRunner, 'status' | 'busy'>>): number;
  /** Changes a registered runner's state, as the runner connecting or taking a job would. */
  setRunnerState(name: string, state: Partial<Pick<FakeRunner, 'status' | 'busy'>>): void;
  /** Status of GET /repos/{owner}/{repo}/actions/jobs/{job_id}; jobs not set answer 'queued'. */
  setJobStatus(jobId: number | string, status: JobStatus): void;
  /**
   * The next `times` requests matching method+pattern answer `status` (with an error JSON body, and the given
   * headers, e.g. retry-after).
   */
  failNext(method: string, pathPattern: RegExp, status: number, times?: number, headers?: Record<string, string>): void;
  /** Problems found by checkAgainstOpenApi so far, as "METHOD path: problem". */
  openApiViolations: string[];
  /** Requests no handler answered (they got a 404), as "METHOD path". */
  unhandled: string[];
  /** Every credential handed out, so tests can assert none leaks into logs. */
  issuedJitConfigs: string[];
  issuedRegistrationTokens: string[];
  installationTokens: string[];
  close(): Promise<void>;
}

export interface FakeGitHubOptions {
  /** GET /app's id; default 1, the harness's APP_ID. */
  appId?: number;
  /** The App's slug; its installation tokens write as `<slug>[bot]`. Default 'fleetbot'. */
  appSlug?: string;
  /** The organisation owning the App. Default 'acme'. */
  appOwner?: string;
  /** Who requests without an installation token of the fake act as. Default 'octocat'. */
  defaultUser?: string;
}

export interface Reply {
  status: number;
  /** Undefined for an empty body (204). */
  body: unknown;
  headers?: Record<string, string>;
}

export interface RouteRequest {
  /** As recorded: without `/api/v3` and the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The parsed body, as `handle` gets it. */
  body: unknown;
}

export interface Route {
  method: string;
  pattern: RegExp;
  /** `params` are the pattern's capture groups, URL-decoded. Undefined: not handled (404, listed in `unhandled`). */
  handle(params: string[], body: unknown, request: RouteRequest): Reply | undefined;
}

interface FailureRule {
  method: string;
  pathPattern: RegExp;
  status: number;
  remaining: number;
  headers: Record<string, string>;
}

const API_PREFIX = '/api/v3';
/** The version whose OpenAPI description the requests are checked against. */
const GHES_VERSION = '3.19.0';
const SCOPE = String.raw`(?:orgs/[^/]+|repos/[^/]+/[^/]+)`;

/** GitHub writes timestamps to the second, without milliseconds. */
function inOneHour(): string {
  return new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** A fake GitHub REST API on a free loopback port; see FakeGitHub. */
export async function startFakeGitHub(options: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  loadGitHubOpenApi();
  const requests: RecordedRequest[] = [];
  const openApiViolations: string[] = [];
  const unhandled: string[] = [];
  const issuedJitConfigs: string[] = [];
  const issuedRegistrationTokens: string[] = [];
  const installationTokens: string[] = [];
  const jobStatuses = new Map<string, JobStatus>();
  const failureRules: FailureRule[] = [];
  let lastRunnerId = 0;
  const runners = new Map<number, FakeRunner>();
  const runnerJson = (runner: FakeRunner) => ({
    id: runner.id,
    name: runner.name,
    os: 'linux',
    status: runner.status,
    busy: runner.busy,
    labels: runner.labels.map((name, i) => ({ id: i + 1, name, type: 'custom' })),
  });
  const runnerNamed = (name: string) => [...runners.values()].find((runner) => runner.name === name);
  function register(scope: string, name: string, labels: string[], state: Partial<Pick<FakeRunner, 'status' | 'busy'>> = {}): FakeRunner {
    const runner: FakeRunner = { id: ++lastRunnerId, name, scope, labels, status: 'offline', busy: false, ...state };
    runners.set(runner.id, runner);
    return runner;
  }

  const routes: Route[] = [
    {
      method: 'POST',
      pattern: /^\/app\/installations\/\d+\/access_tokens$/,
      handle() {
        const token = `ghs_${randomToken(18)}`;
        installationTokens.push(token);
        return { status: 201, body: { token, expires_at: inOneHour(), permissions: {}, repository_selection: 'all' } };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/(${SCOPE})/actions/runners/generate-jitconfig$`),
      handle([scope], body) {
        // Malformed bodies are reported as OpenAPI violations; answering them must not throw.
        const request = (typeof body === 'object' && body !== null ? body : {}) as { name?: unknown; labels?: unknown };
        const labelNames = Array.isArray(request.labels) ? request.labels.map(String) : [];
        const runner = register(scope, String(request.name), labelNames);
        const encodedJitConfig = Buffer.from(`jit-runner-${runner.id}-${randomToken(24)}`).toString('base64');
        issuedJitConfigs.push(encodedJitConfig);
        return { status: 201, body: { runner: runnerJson(runner), encoded_jit_config: encodedJitConfig } };
      },
    },
    {
      // The App's installation on an organisation or repository: every owner has installation 4242.
      method: 'GET',
      pattern: /^\/(?:orgs\/([^/]+)|repos\/([^/]+)\/[^/]+)\/installation$/,
      handle([org, owner]) {
        const login = org || owner;
        const account = { login, id: 1, node_id: 'O_1', type: 'Organization', html_url: `${url}/${login}` };
        return {
          status: 200,
          body: { id: 4242, account, app_id: options.appId ?? 1, target_type: 'Organization', permissions: {}, events: [] },
        };
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/(${SCOPE})/actions/runners$`),
      handle([scope], _body, request) {
        const perPage = Number(request.query.get('per_page') ?? 30);
        const page = Number(request.query.get('page') ?? 1);
        const inScope = [...runners.values()].filter((runner) => runner.scope === scope);
        const pageOf = inScope.slice((page - 1) * perPage, page * perPage);
        // Octokit's paginate follows the Link header, as on GitHub.
        const last = Math.max(1, Math.ceil(inScope.length / perPage));
        const headers: Record<string, string> =
          page < last ? { link: `<${apiUrl}/${scope}/actions/runners?per_page=${perPage}&page=${page + 1}>; rel="next"` } : {};
        return { status: 200, body: { total_count: inScope.length, runners: pageOf.map(runnerJson) }, headers };
      },
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^/(${SCOPE})/actions/runners/(\\d+)$`),
      handle([scope, id]) {
        const runner = runners.get(Number(id));
        if (!runner || runner.scope !== scope) return apiError(404, 'Not Found');
        // GitHub refuses to remove a runner that is running a job.
        if (runner.busy) return apiError(422, `Bad request - Runner "${runner.name}" is still running a job"`);
        runners.delete(runner.id);
        return { status: 204, body: undefined };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/${SCOPE}/actions/runners/registration-token$`),
      handle() {
        const token = `AAAA${randomToken(13).toUpperCase()}`;
        issuedRegistrationTokens.push(token);
        return { status: 201, body: { token, expires_at: inOneHour() } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/repos\/[^/]+\/[^/]+\/actions\/jobs\/(\d+)$/,
      handle([jobId]) {
        const status = jobStatuses.get(jobId) ?? 'queued';
        // A finished job always has a conclusion on the real API.
        const conclusion = status === 'completed' ? 'success' : null;
        return {
          status: 200,
          body: { id: Number(jobId), run_id: 1, status, conclusion, name: 'build', labels: [], runner_name: null },
        };
      },
    },
    {
      method: 'GET',
      pattern: /^\/orgs\/[^/]+\/actions\/runner-groups\/(\d+)$/,
      handle([groupId]) {
        const id = Number(groupId);
        return { status: 200, body: { id, name: `group-${id}`, visibility: 'all', default: false } };
      },
    },
  ];

  function takeFailure(method: string, path: string): FailureRule | undefined {
    const index = failureRules.findIndex((rule) => rule.method === method && rule.pathPattern.test(path));
    if (index < 0) return undefined;
    const rule = failureRules[index];
    if (--rule.remaining === 0) failureRules.splice(index, 1);
    return rule;
  }

  function answer(method: string, request: RouteRequest): Reply {
    for (const route of routes) {
      if (route.method !== method) continue;
      const match = route.pattern.exec(request.path);
      if (!match) continue;
      return route.handle(match.slice(1).map(decodeParam), request.body, request) ?? notFound(method, request.path);
    }
    return notFound(method, request.path);
  }

  function notFound(method: string, path: string): Reply {
    unhandled.push(`${method} ${path}`);
    return { status: 404, body: { message: 'Not Found' } };
  }

  function handleRequest(req: IncomingMessage, res: ServerResponse, rawBody: string): void {
    const method = req.method ?? 'GET';
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://fake-github');
    const underApi = pathname === API_PREFIX || pathname.startsWith(`${API_PREFIX}/`);
    const path = underApi ? pathname.slice(API_PREFIX.length) || '/' : pathname;
    const body = parseBody(rawBody);
    requests.push({ method, path, query: searchParams, body, headers: req.headers, at: Date.now() });

    const problems = underApi ? checkAgainstOpenApi(method, path, body) : [`not under ${API_PREFIX}`];
    for (const problem of problems) openApiViolations.push(`${method} ${path}: ${problem}`);

    const failure = takeFailure(method, path);
    const request = { path, query: searchParams, headers: req.headers, body };
    const reply = failure ? errorReply(failure.status) : underApi ? answer(method, request) : notFound(method, path);
    // Octokit's enterprise-compatibility plugin rewrites some 404s when it sees this header, as GHES sends it.
    const headers = { 'x-github-enterprise-version': GHES_VERSION, ...reply.headers, ...failure?.headers };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(reply.body));
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handleRequest(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A benchmark opens ~2,000 connections at once; the default accept queue (511) drops the rest's SYNs.
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve);
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `http://${host}`;
  const apiUrl = `${url}${API_PREFIX}`;
  const appSettings = defaultAppSettings(url);
  routes.push(...appSettingsRoutes(appSettings));
  const repos = new RepoModel({
    url,
    apiUrl,
    appSettings,
    app: { id: options.appId ?? 1, slug: options.appSlug ?? 'fleetbot', owner: options.appOwner ?? 'acme' },
    defaultUser: options.defaultUser ?? 'octocat',
    installationTokens,
  });
  routes.push(...repoRoutes(repos, apiUrl));
  // The App's webhook deliveries (fake-github-deliveries.ts).
  const deliveries = fakeDeliveries(() => apiUrl);
  routes.push(...deliveries.routes);

  return {
    ...repos.testApi(),
    ...deliveries.api,
    url,
    appSettings,
    apiUrl,
    host,
    requests,
    requestsTo: (method, pathPattern) =>
      requests.filter((request) => request.method === method.toUpperCase() && pathPattern.test(request.path)),
    setJobStatus: (jobId, status) => jobStatuses.set(String(jobId), status),
    registeredRunners: () => [...runners.values()].map((runner) => ({ ...runner })),
    registerRunner: (scope, name, state) => register(scope, name, [], state).id,
    setRunnerState(name, state) {
      const runner = runnerNamed(name);
      if (!runner) throw new Error(`no runner named ${name} is registered`);
      Object.assign(runner, state);
    },
    failNext(method, pathPattern, status, times = 1, headers = {}) {
      if (!Number.isInteger(times) || times < 1) {
        throw new RangeError(`failNext times must be a positive integer, got ${times}`);
      }
      failureRules.push({ method: method.toUpperCase(), pathPattern, status, remaining: times, headers });
    },
    openApiViolations,
    unhandled,
    issuedJitConfigs,
    issuedRegistrationTokens,
    installationTokens,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Clients such as fetch keep connections alive; close() alone would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}

function errorReply(status: number): Reply {
  return apiError(status, STATUS_CODES[status] ?? 'Error');
}

/** Octokit encodes parameters such as `heads/main` as `heads%2Fmain`; GitHub also takes them unencoded. */
function decodeParam(param: string | undefined): string {
  if (param === undefined) return '';
  try {
    return decodeURIComponent(param);
  } catch {
    return param;
  }
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
