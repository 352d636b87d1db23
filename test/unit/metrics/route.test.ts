import { jest } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ComputeBackend } from '../../../src/compute/types.js';
import { FleetRegistry } from '../../../src/fleets/registry.js';
import { createFleetbot } from '../../../src/index.js';
import { bearerToken } from '../../../src/metrics/route.js';
import type { CredentialStore } from '../../../src/secrets/types.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { serveOnProbot } from '../../helpers/probot-server.js';
import { sample } from '../../helpers/prometheus-text.js';

const TOKEN = 'metrics-token-0123456789';

/** The app on a Probot server of its own, as `npm start` serves it; nothing is launched, so compute is never called. */
async function serve(metricsToken: string | undefined): Promise<{ url: string; store: SqliteStore; close: () => Promise<void> }> {
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'fleetbot-')), 'fleetbot.db'));
  const log = pino({ level: 'silent' });
  const fleetbot = createFleetbot({
    store,
    metricsToken,
    fleets: new FleetRegistry([ecsFleet({ name: 'linux-small', maxRunners: 7 })]),
    compute: {} as ComputeBackend,
    credentials: {} as CredentialStore,
    ciSystems: [],
    githubRetry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    launchTimeoutMs: 60_000,
    periodicWork: false,
  });
  const { url, server } = await serveOnProbot(fleetbot.app, log);
  return {
    url: `${url}/metrics`,
    store,
    close: async () => {
      await server.stop();
      await fleetbot.stop();
      await store.close();
    },
  };
}

describe('GET /metrics', () => {
  let app: Awaited<ReturnType<typeof serve>> | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('is open without FLEETBOT_METRICS_TOKEN, in the Prometheus text format, with the fleets and the process metrics', async () => {
    app = await serve(undefined);
    const response = await fetch(app.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(sample(text, 'fleetbot_fleet_max_runners', { fleet: 'linux-small' })).toBe(7);
    expect(sample(text, 'fleetbot_backlog_jobs', { fleet: 'linux-small' })).toBe(0);
    expect(text).toContain('# TYPE fleetbot_job_wait_seconds histogram');
    expect(text).toContain('# TYPE fleetbot_jobs_total counter');
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('with a token, answers the right bearer token, and 401 to a wrong one, another scheme or none', async () => {
    app = await serve(TOKEN);
    const status = async (authorization?: string) =>
      (await fetch(app!.url, { headers: authorization === undefined ? {} : { authorization } })).status;
    expect(await status(`Bearer ${TOKEN}`)).toBe(200);
    expect(await status(`bearer ${TOKEN}`)).toBe(200);
    expect(await status(`Bearer ${TOKEN}x`)).toBe(401);
    expect(await status('Bearer short')).toBe(401);
    expect(await status(`Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`)).toBe(401);
    expect(await status()).toBe(401);
    const refused = await fetch(app.url);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="fleetbot metrics"');
    expect(await refused.text()).not.toContain('fleetbot_');
  });

  it('answers 500 when the store cannot be read for the gauges, and serves again once it can', async () => {
    app = await serve(undefined);
    const activeRunners = jest.spyOn(app.store, 'activeRunners').mockRejectedValueOnce(new Error('disk I/O error'));
    const failed = await fetch(app.url);
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe('the metrics could not be read; see the log\n');
    expect((await fetch(app.url)).status).toBe(200);
    expect(activeRunners).toHaveBeenCalledTimes(2);
  });

  it('takes GET only', async () => {
    app = await serve(undefined);
    const response = await fetch(app.url, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
  });
});

describe('bearerToken', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['Bearer  abc ', 'abc'],
    ['Bearer', undefined],
    ['Bearer a b', undefined],
    ['Token abc', undefined],
    [undefined, undefined],
  ])('reads %j as %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});
