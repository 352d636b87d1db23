import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Probot } from 'probot';
import type { CiConnector, CiSource } from '../../src/ci/types.js';
import type { ComputeBackend } from '../../src/compute/types.js';
import { FleetRegistry } from '../../src/fleets/registry.js';
import { createFleetbot } from '../../src/index.js';
import type { CredentialStore } from '../../src/secrets/types.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { testPrivateKey } from '../helpers/app-key.js';

/** A polling CI system that only records whether the app started it. */
function pollerThatRecords(started: string[]): CiConnector {
  const source = { ci: 'circleci', credentialLane: () => 'lane' } as unknown as CiSource;
  return () => ({ source, listen: () => ({ start: () => void started.push('polling'), stop: async () => undefined }) });
}

async function loadApp(periodicWork: boolean | undefined): Promise<string[]> {
  const started: string[] = [];
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'fleetbot-')), 'fleetbot.db'));
  const fleetbot = createFleetbot({
    store,
    fleets: new FleetRegistry([]),
    compute: {} as ComputeBackend,
    credentials: {} as CredentialStore,
    ciSystems: [pollerThatRecords(started)],
    githubRetry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    launchTimeoutMs: 60_000,
    periodicWork,
  });
  await new Probot({ appId: 1, privateKey: testPrivateKey(), secret: 'unused', log: pino({ level: 'silent' }) }).load(fleetbot.app);
  await fleetbot.stop();
  await store.close();
  return started;
}

describe('periodic work when the app loads', () => {
  it('starts the intakes that poll, by default', async () => {
    expect(await loadApp(undefined)).toEqual(['polling']);
  });

  it('starts none with periodicWork: false (a Lambda function runs only what it is invoked for)', async () => {
    expect(await loadApp(false)).toEqual([]);
  });
});
