import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Probot, ProbotOctokit } from 'probot';
import { synthesizeFleet } from '../../cdktf/synth.js';
import { connectGitHub } from '../../src/ci/github-webhook.js';
import { Ec2Backend } from '../../src/compute/ec2.js';
import { EcsBackend } from '../../src/compute/ecs.js';
import { routerFor } from './compute-router.js';
import { FleetRegistry } from '../../src/fleets/registry.js';
import type { FleetSpec } from '../../src/fleets/spec.js';
import { createFleetbot, type Fleetbot, type FleetbotOptions } from '../../src/index.js';
import type { IssueOpsSettings } from '../../src/issueops/settings.js';
import { loadIssueForms } from '../../src/issueops/templates.js';
import { FleetWorkspace } from '../../src/issueops/workspace.js';
import { TerraformCli } from '../../src/terraform/cli.js';
import { RunnerSecrets } from '../../src/secrets/ssm.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { testPrivateKey, WEBHOOK_SECRET } from './app-key.js';
import { clientsFor } from './aws-fixture.js';
import type { FakeGitHub } from './fake-github.js';
import type { Moto } from './moto.js';
import { logLines } from './log-lines.js';

// Re-exported: most tests take the test App's credentials from the harness.
export { testPrivateKey, WEBHOOK_SECRET };

export interface AppUnderTest {
  probot: Probot;
  fleetbot: Fleetbot;
  store: SqliteStore;
  /** Where the app keeps jobs and runners: `jobStore` if one was given, else `store`. */
  jobs: Store;
  databaseFile: string;
  /** Every log line the app wrote, as JSON text. */
  logs: string[];
  /** Delivers a webhook as Probot would after verifying its signature, and waits for the work it started. */
  deliver(name: 'workflow_job' | 'issues' | 'issue_comment' | 'pull_request', payload: unknown): Promise<void>;
  close(): Promise<void>;
}

export interface AppOptions {
  moto: Moto;
  github: FakeGitHub;
  fleets: FleetSpec[];
  /** Reuse a database file, as a restarted app would. */
  databaseFile?: string;
  /** Jobs and runners here instead of the database file (which keeps IssueOps and deliveries), as FLEETBOT_STORE=dynamodb: does. */
  jobStore?: Store;
  launchTimeoutMs?: number;
  issueOps?: IssueOpsSettings;
  /** Reconciler settings and the clock, passed to the app as they are. */
  tuning?: Pick<FleetbotOptions, 'orphanGraceMs' | 'runnerSweepIntervalMs' | 'now' | 'pricingRegion'>;
}

/** The app in-process, as `npm start` wires it, against moto and the fake GitHub (as a GHES host). */
export async function startApp(options: AppOptions): Promise<AppUnderTest> {
  const { lines: logs, sink } = logLines();
  const databaseFile = options.databaseFile ?? join(mkdtempSync(join(tmpdir(), 'fleetbot-')), 'fleetbot.db');
  const store = new SqliteStore(databaseFile);
  const aws = clientsFor(options.moto);
  const secrets = new RunnerSecrets(aws.ssm);
  const jobs = options.jobStore ?? store;
  const fleetbot = createFleetbot({
    store: jobs,
    deliveries: store.deliveries,
    fleets: new FleetRegistry(options.fleets),
    compute: routerFor({ ecs: new EcsBackend(aws.ecs), ec2: new Ec2Backend(aws.ec2) }),
    credentials: secrets,
    runnerParameters: secrets,
    ciSystems: [connectGitHub({ retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } })],
    githubRetry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    launchTimeoutMs: options.launchTimeoutMs ?? 60_000,
    ...options.tuning,
    issueOps: options.issueOps && {
      settings: options.issueOps,
      store: store.issueOps,
      workspace: new FleetWorkspace(
        options.issueOps.terraform.workdir,
        new TerraformCli({
          binary: options.issueOps.terraform.binary,
          pluginMirror: options.issueOps.terraform.pluginMirror,
          timeoutMs: options.issueOps.terraform.timeoutSeconds * 1000,
          stateDir: options.issueOps.terraform.workdir,
          env: process.env,
          secrets: [WEBHOOK_SECRET],
        }),
      ),
      forms: await loadIssueForms(),
      synthesize: synthesizeFleet,
      secrets: [WEBHOOK_SECRET],
    },
  });
  const probot = new Probot({
    appId: 1,
    privateKey: testPrivateKey(),
    secret: WEBHOOK_SECRET,
    baseUrl: options.github.apiUrl,
    log: pino({ level: 'debug' }, sink),
    // The function form is the one that turns throttling off in Probot 14.
    Octokit: ProbotOctokit.defaults((octokitOptions: any) => ({
      ...octokitOptions,
      retry: { enabled: false },
      throttle: { ...octokitOptions?.throttle, enabled: false },
    })),
  });
  // No HTTP server here: webhooks are delivered with probot.receive, and routes (GET /metrics) are not served.
  await probot.load(fleetbot.app, { cwd: process.cwd(), addHandler: () => undefined });
  return {
    probot,
    fleetbot,
    store,
    jobs,
    databaseFile,
    logs,
    deliver: async (name, payload) => {
      await probot.receive({ id: randomUUID(), name, payload } as never);
      await fleetbot.idle();
    },
    close: async () => {
      await fleetbot.stop();
      await store.close();
    },
  };
}
