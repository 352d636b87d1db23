import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { checkAgainstOpenApi } from '../helpers/github-openapi.js';

const JIT_PATH = '/orgs/acme/actions/runners/generate-jitconfig';
const REPO_JIT_PATH = '/repos/acme/app/actions/runners/generate-jitconfig';
const validJitBody = { name: 'fleetbot-1', runner_group_id: 1, labels: ['self-hosted', 'linux'], work_folder: '_work' };

describe('checkAgainstOpenApi', () => {
  it('accepts a valid JIT config request, org- or repo-level', () => {
    expect(checkAgainstOpenApi('POST', JIT_PATH, validJitBody)).toEqual([]);
    expect(checkAgainstOpenApi('POST', REPO_JIT_PATH, validJitBody)).toEqual([]);
  });

  it('reports a missing required property', () => {
    const { runner_group_id: _omitted, ...body } = validJitBody;
    expect(checkAgainstOpenApi('POST', JIT_PATH, body)).toEqual(['missing required property "runner_group_id"']);
  });

  it('reports a property the schema does not list', () => {
    expect(checkAgainstOpenApi('POST', JIT_PATH, { ...validJitBody, ephemeral: true })).toEqual(['unknown property "ephemeral"']);
  });

  it('reports top-level properties of the wrong type', () => {
    expect(checkAgainstOpenApi('POST', JIT_PATH, { ...validJitBody, runner_group_id: '1', labels: 'linux' })).toEqual([
      'property "runner_group_id" should be integer, got string',
      'property "labels" should be array, got string',
    ]);
  });

  it('resolves $ref property schemas', () => {
    const path = '/app/installations/42/access_tokens';
    expect(checkAgainstOpenApi('POST', path, { permissions: { contents: 'read' } })).toEqual([]);
    expect(checkAgainstOpenApi('POST', path, { permissions: ['contents'] })).toEqual([
      'property "permissions" should be object, got array',
    ]);
  });

  it('reports a missing required body, and a body where none is taken', () => {
    expect(checkAgainstOpenApi('POST', JIT_PATH, undefined)).toEqual(['request body is required']);
    expect(checkAgainstOpenApi('POST', '/orgs/acme/actions/runners/registration-token', undefined)).toEqual([]);
    expect(checkAgainstOpenApi('POST', '/orgs/acme/actions/runners/registration-token', { name: 'x' })).toEqual([
      '/orgs/{org}/actions/runners/registration-token takes no JSON request body',
    ]);
  });

  it('reports unknown paths and methods', () => {
    expect(checkAgainstOpenApi('GET', '/orgs/acme/no-such-thing', undefined)).toEqual([
      'no path of the GitHub OpenAPI description matches',
    ]);
    expect(checkAgainstOpenApi('PUT', '/repos/acme/app/actions/jobs/7', undefined)).toEqual([
      'no PUT operation on /repos/{owner}/{repo}/actions/jobs/{job_id}',
    ]);
  });

  it('matches parameters inside a segment', () => {
    expect(checkAgainstOpenApi('GET', '/repos/acme/app/compare/main...feature', undefined)).toEqual([]);
  });
});

describe('startFakeGitHub', () => {
  let github: FakeGitHub;

  beforeEach(async () => {
    github = await startFakeGitHub();
  });

  afterEach(async () => {
    await github.close();
  });

  function post(path: string, body?: unknown): Promise<Response> {
    return fetch(`${github.apiUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  it('serves under /api/v3 on a loopback port', () => {
    expect(github.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(github.url).toBe(`http://${github.host}`);
    expect(github.apiUrl).toBe(`${github.url}/api/v3`);
  });

  it('hands out unique JIT configs and records the requests', async () => {
    const first = await post(JIT_PATH, validJitBody);
    const second = await post(`${REPO_JIT_PATH}?trace=1`, { ...validJitBody, name: 'fleetbot-2' });

    expect([first.status, second.status]).toEqual([201, 201]);
    const [a, b] = (await Promise.all([first.json(), second.json()])) as {
      runner: { id: number; name: string; labels: { name: string }[] };
      encoded_jit_config: string;
    }[];
    expect(a.encoded_jit_config).not.toBe(b.encoded_jit_config);
    expect(Buffer.from(a.encoded_jit_config, 'base64').toString('base64')).toBe(a.encoded_jit_config);
    expect(b.runner.id).toBe(a.runner.id + 1);
    expect([a.runner.name, b.runner.name]).toEqual(['fleetbot-1', 'fleetbot-2']);
    expect(a.runner.labels.map((label) => label.name)).toEqual(['self-hosted', 'linux']);
    expect(github.issuedJitConfigs).toEqual([a.encoded_jit_config, b.encoded_jit_config]);

    const recorded = github.requestsTo('post', /\/generate-jitconfig$/);
    expect(recorded.map((request) => request.path)).toEqual([JIT_PATH, REPO_JIT_PATH]);
    expect(recorded[0].body).toEqual(validJitBody);
    expect(recorded[1].query.get('trace')).toBe('1');
    expect(recorded[0].headers['content-type']).toBe('application/json');
    expect(github.openApiViolations).toEqual([]);
  });

  it('records requests that break the OpenAPI description, and still answers them', async () => {
    const response = await post(JIT_PATH, { name: 'fleetbot-1', labels: ['linux'], ephemeral: true });

    expect(response.status).toBe(201);
    expect(github.openApiViolations).toEqual([
      `POST ${JIT_PATH}: missing required property "runner_group_id"`,
      `POST ${JIT_PATH}: unknown property "ephemeral"`,
    ]);
  });

  it('answers a body that is not JSON, and reports it', async () => {
    const response = await fetch(`${github.apiUrl}${JIT_PATH}`, { method: 'POST', body: 'name=fleetbot-1' });

    expect(response.status).toBe(201);
    expect(github.requests[0].body).toBe('name=fleetbot-1');
    expect(github.openApiViolations).toEqual([`POST ${JIT_PATH}: request body should be an object, got string`]);
  });

  it('issues installation and registration tokens', async () => {
    type Token = { token: string; expires_at: string };
    const installation = (await (await post('/app/installations/42/access_tokens')).json()) as Token;
    const registration = (await (await post('/orgs/acme/actions/runners/registration-token')).json()) as Token;

    expect(installation).toEqual({
      token: expect.stringMatching(/^ghs_/),
      expires_at: expect.any(String),
      permissions: {},
      repository_selection: 'all',
    });
    expect(Date.parse(installation.expires_at) - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(github.installationTokens).toEqual([installation.token]);
    expect(registration).toEqual({ token: expect.stringMatching(/^AAAA/), expires_at: expect.any(String) });
    expect(github.issuedRegistrationTokens).toEqual([registration.token]);
    expect(github.openApiViolations).toEqual([]);
  });

  it('answers job status, queued until set', async () => {
    const jobStatus = async () => {
      const response = await fetch(`${github.apiUrl}/repos/acme/app/actions/jobs/7`);
      return (await response.json()) as { id: number; status: string; conclusion: string | null };
    };

    expect(await jobStatus()).toMatchObject({ id: 7, status: 'queued', conclusion: null });
    github.setJobStatus(7, 'in_progress');
    expect(await jobStatus()).toMatchObject({ status: 'in_progress', conclusion: null });
    github.setJobStatus('7', 'completed');
    expect(await jobStatus()).toMatchObject({ status: 'completed', conclusion: 'success' });
  });

  it('answers runner groups by id', async () => {
    const response = await fetch(`${github.apiUrl}/orgs/acme/actions/runner-groups/5`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: 5, name: 'group-5', visibility: 'all', default: false });
  });

  it('fails exactly the next N matching requests, then succeeds', async () => {
    github.failNext('POST', /generate-jitconfig$/, 503, 2, { 'retry-after': '1' });

    const unrelated = await post('/orgs/acme/actions/runners/registration-token');
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await post(JIT_PATH, validJitBody);
      statuses.push(response.status);
      if (attempt === 0) {
        expect(response.headers.get('retry-after')).toBe('1');
        expect(await response.json()).toMatchObject({ message: 'Service Unavailable' });
      }
    }

    expect(unrelated.status).toBe(201);
    expect(statuses).toEqual([503, 503, 201]);
    expect(github.issuedJitConfigs).toHaveLength(1);
  });

  it('answers unknown routes 404 and records them', async () => {
    const response = await fetch(`${github.apiUrl}/repos/acme/app/actions/artifacts`);

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ message: 'Not Found' });
    expect(github.unhandled).toEqual(['GET /repos/acme/app/actions/artifacts']);
    expect(github.requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /repos/acme/app/actions/artifacts']);
  });

  it('flags requests outside /api/v3', async () => {
    const response = await fetch(`${github.url}/app/installations/42/access_tokens`, { method: 'POST' });

    expect(response.status).toBe(404);
    expect(github.unhandled).toEqual(['POST /app/installations/42/access_tokens']);
    expect(github.openApiViolations).toEqual(['POST /app/installations/42/access_tokens: not under /api/v3']);
  });
});
