import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Probot } from 'probot';
import { connectCircleCi, type CircleCiReads } from '../../src/ci/circleci-poller.js';
import type { CiConnector, CiSource } from '../../src/ci/types.js';
import type { ComputeBackend } from '../../src/compute/types.js';
import { FleetRegistry } from '../../src/fleets/registry.js';
import { createFleetbot, type Fleetbot } from '../../src/index.js';
import type { CredentialStore, SecretReader } from '../../src/secrets/types.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { testPrivateKey } from '../helpers/app-key.js';

// No HTTP server: the app's routes (GET /metrics) are not served, as in the Lambda worker.
const NO_SERVER = { cwd: process.cwd(), addHandler: () => undefined };

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
  await new Probot({ appId: 1, privateKey: testPrivateKey(), secret: 'unused', log: pino({ level: 'silent' }) }).load(
    fleetbot.app,
    NO_SERVER,
  );
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

describe('one periodic pass (what a Lambda tick runs)', () => {
  const TTL = 60_000;
  let store: SqliteStore;
  let fleetbot: Fleetbot;
  const sweep = { fails: false, passes: 0 };

  /** A CI system whose periodic work is the GitLab sweep's name; it fails when `sweep.fails` says so. */
  const sweepingIntake: CiConnector = () => ({
    source: { ci: 'gitlab', credentialLane: () => 'lane' } as unknown as CiSource,
    listen: () => ({
      periodicTask: 'gitlab-sweep',
      pass: async () => {
        sweep.passes++;
        if (sweep.fails) throw new Error('GitLab unreachable');
      },
    }),
  });

  beforeEach(async () => {
    Object.assign(sweep, { fails: false, passes: 0 });
    store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'fleetbot-')), 'fleetbot.db'));
    fleetbot = createFleetbot({
      store,
      fleets: new FleetRegistry([]),
      compute: {} as ComputeBackend,
      credentials: {} as CredentialStore,
      ciSystems: [
        // The real CircleCI poller, with no CircleCI fleet: a pass reads no queue.
        connectCircleCi({ api: {} as CircleCiReads, secrets: {} as SecretReader, pollIntervalMs: 15_000 }),
        sweepingIntake,
      ],
      githubRetry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      launchTimeoutMs: 60_000,
      reconcileIntervalMs: 30_000,
      retention: { store, retentionMs: 86_400_000 },
      leases: { store: store.lease, holder: 'tick', ttlMs: TTL },
      periodicWork: false,
    });
    await new Probot({ appId: 1, privateKey: testPrivateKey(), secret: 'unused', log: pino({ level: 'silent' }) }).load(
      fleetbot.app,
      NO_SERVER,
    );
  });
  afterEach(async () => {
    await fleetbot.stop();
    await store.close();
  });

  it('runs one pass of each periodic task, each under its lease, and gives each lease up after it', async () => {
    const summary = await fleetbot.periodicPass();
    expect(summary).toEqual({ ran: ['reconciler', 'retention', 'circleci-poll', 'gitlab-sweep'], heldElsewhere: [], failed: [] });
    expect(sweep.passes).toBe(1);
    // Given up, not left to lapse: a replica takes each lease at once.
    for (const name of ['reconciler', 'retention', 'circleci-poll']) {
      expect(await store.lease.acquire(name, 'ecs-replica', TTL, Date.now())).toBeDefined();
    }
  });

  it('skips a task whose lease another holder has, and runs the others', async () => {
    await store.lease.acquire('reconciler', 'ecs-replica', TTL, Date.now());
    await store.lease.acquire('circleci-poll', 'ecs-replica', TTL, Date.now());
    const summary = await fleetbot.periodicPass();
    expect(summary).toEqual({ ran: ['retention', 'gitlab-sweep'], heldElsewhere: ['reconciler', 'circleci-poll'], failed: [] });
  });

  it('reports a failing task by name and runs the others all the same', async () => {
    sweep.fails = true;
    const summary = await fleetbot.periodicPass();
    expect(summary.ran).toEqual(['reconciler', 'retention', 'circleci-poll']);
    expect(summary.failed).toEqual([{ task: 'gitlab-sweep', error: { name: 'Error', message: 'GitLab unreachable' } }]);
  });
});
