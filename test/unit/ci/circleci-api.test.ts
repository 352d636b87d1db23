import { CircleCiApi, CircleCiApiError } from '../../../src/ci/circleci-api.js';
import { FakeCircleCi } from '../../helpers/fake-circleci.js';

const TOKEN = 'circle-api-token-unit';
const RESOURCE_CLASS = 'acme/linux-large';

describe('CircleCI runner API client', () => {
  const circleci = new FakeCircleCi();
  const waits: number[] = [];
  const api = new CircleCiApi({ attempts: 3, baseDelayMs: 10, maxDelayMs: 20 }, fetch, async (ms) => void waits.push(ms));

  beforeAll(() => circleci.start());
  afterAll(() => circleci.stop());
  beforeEach(() => {
    circleci.requests.length = 0;
    circleci.validTokens.clear();
    circleci.validTokens.add(TOKEN);
    waits.length = 0;
  });

  it('reads the unclaimed task count with the Circle-Token header', async () => {
    circleci.setUnclaimed(RESOURCE_CLASS, 7);
    await expect(api.unclaimedTaskCount(circleci.url, TOKEN, RESOURCE_CLASS)).resolves.toBe(7);
    expect(circleci.requests).toEqual([{ path: '/api/v3/runner/tasks', resourceClass: RESOURCE_CLASS, token: TOKEN }]);
  });

  it('lists agents with when they last took a task', async () => {
    circleci.agentConnects(RESOURCE_CLASS, 'fleet-a-1', new Date('2026-12-01T08:58:00Z'));
    circleci.agentClaims(RESOURCE_CLASS, 'fleet-a-2', new Date('2026-12-01T09:00:00Z'));
    await expect(api.agents(circleci.url, TOKEN, RESOURCE_CLASS)).resolves.toEqual([
      { name: 'fleet-a-1', firstConnectedAt: Date.parse('2026-12-01T08:58:00Z'), lastUsedAt: undefined },
      { name: 'fleet-a-2', firstConnectedAt: Date.parse('2026-12-01T08:59:59Z'), lastUsedAt: Date.parse('2026-12-01T09:00:00Z') },
    ]);
  });

  it('retries 5xx and 429 answers, then succeeds', async () => {
    circleci.setUnclaimed(RESOURCE_CLASS, 2);
    circleci.failNext(503, 429);
    await expect(api.unclaimedTaskCount(circleci.url, TOKEN, RESOURCE_CLASS)).resolves.toBe(2);
    expect(circleci.requestsTo('/api/v3/runner/tasks')).toHaveLength(3);
    expect(waits).toHaveLength(2);
  });

  it('gives up after the last attempt with the status', async () => {
    circleci.failNext(502, 502, 502);
    await expect(api.unclaimedTaskCount(circleci.url, TOKEN, RESOURCE_CLASS)).rejects.toMatchObject({
      name: 'CircleCiApiError',
      status: 502,
    });
    expect(circleci.requests).toHaveLength(3);
  });

  it('does not retry a rejected token, and the error never holds it', async () => {
    const error = await api.unclaimedTaskCount(circleci.url, 'wrong-token-value', RESOURCE_CLASS).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CircleCiApiError);
    expect(error).toMatchObject({ status: 401, message: 'CircleCI GET /api/v3/runner/tasks answered HTTP 401: You must log in first.' });
    expect(JSON.stringify(error) + String(error)).not.toContain('wrong-token-value');
    expect(circleci.requests).toHaveLength(1);
  });

  it('retries network failures', async () => {
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      if (++calls === 1) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    circleci.setUnclaimed(RESOURCE_CLASS, 1);
    const flakyApi = new CircleCiApi({ attempts: 2, baseDelayMs: 1, maxDelayMs: 1 }, flaky, async () => undefined);
    await expect(flakyApi.unclaimedTaskCount(circleci.url, TOKEN, RESOURCE_CLASS)).resolves.toBe(1);
    expect(calls).toBe(2);
  });
});
