/**
 * `npm run bench` (part): how long one reconciler pass takes with 1,000 runners across 10 fleets, all
 * of them in the store and in the cloud (moto), and how many AWS calls a pass makes. The reconciler,
 * scheduler, SQLite store (a temporary file) and compute backends are the app's own, in-process,
 * against moto. Prints numbers; asserts nothing. BENCH_RECONCILER_RUNNERS, BENCH_RECONCILER_FLEETS,
 * BENCH_RECONCILER_PASSES and BENCH_RECONCILER_COMPUTE (default `ecs`; `ecs,ec2` adds EC2 instances)
 * adjust it. EC2 is not run by default: with 1,000 instances moto takes seconds per DescribeInstances,
 * so a pass takes minutes, all of it in moto.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { pino } from 'pino';
import { AWS_RETRY } from '../src/aws-calls.js';
import { Ec2Backend } from '../src/compute/ec2.js';
import { EcsBackend } from '../src/compute/ecs.js';
import { routerFor } from '../test/helpers/compute-router.js';
import { FleetRegistry } from '../src/fleets/registry.js';
import { fleetSpecSchema, type FleetSpec } from '../src/fleets/spec.js';
import { Reconciler, type ReconcileSummary } from '../src/jobs/reconciler.js';
import { Scheduler } from '../src/jobs/scheduler.js';
import { RunnerSecrets } from '../src/secrets/ssm.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { createRunnerInfra } from '../test/helpers/aws-fixture.js';
import { createEc2RunnerInfra } from '../test/helpers/ec2-fixture.js';
import { startMoto, type Moto } from '../test/helpers/moto.js';
import { InstantCi } from './instant-ci.js';

const RUNNERS = Number(process.env.BENCH_RECONCILER_RUNNERS ?? 1000);
const FLEETS = Number(process.env.BENCH_RECONCILER_FLEETS ?? 10);
const PASSES = Number(process.env.BENCH_RECONCILER_PASSES ?? 5);
/** Jobs queued at once while the runners are set up: moto serves RunTask/RunInstances one at a time. */
const SETUP_BATCH = 50;
const TARGET_MS = 2000;

type ComputeKind = 'ecs' | 'ec2';

interface Row {
  kind: ComputeKind;
  runners: number;
  setupSeconds: number;
  passMs: number[];
  /** Of each pass: waiting for AWS (moto) answers, and this process's own CPU time. */
  awsMs: number[];
  cpuMs: number[];
  /** AWS calls (attempts) per pass, by action. */
  calls: Array<Map<string, number>>;
  summaries: ReconcileSummary[];
}

/** Counts the AWS calls the clients send, by command, and the time spent waiting for them. */
class CallCounter {
  current = new Map<string, number>();
  waitedMs = 0;
  async count<T>(commandName: string | undefined, call: () => Promise<T>): Promise<T> {
    const name = (commandName ?? 'unknown').replace(/Command$/, '');
    this.current.set(name, (this.current.get(name) ?? 0) + 1);
    const started = performance.now();
    try {
      return await call();
    } finally {
      this.waitedMs += performance.now() - started;
    }
  }
  reset(): void {
    this.current = new Map();
    this.waitedMs = 0;
  }
}

// The deserialize step runs inside the retry loop: once per attempt, retries included.
const COUNTING = { step: 'deserialize', name: 'benchCountCalls' } as const;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function fleetsFor(moto: Moto, kind: ComputeKind): Promise<FleetSpec[]> {
  const fleets: FleetSpec[] = [];
  const perFleet = Math.ceil(RUNNERS / FLEETS);
  // One cluster (or launch template, with subnets of its own: a /24 holds 251 instances) per fleet,
  // as IssueOps builds them.
  for (let index = 0; index < FLEETS; index++) {
    const name = `bench-${index}`;
    let compute: Record<string, unknown>;
    if (kind === 'ecs') {
      const infra = await createRunnerInfra(moto, name);
      compute = {
        type: 'ecs',
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        containerName: 'runner',
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      };
    } else {
      const infra = await createEc2RunnerInfra(moto, name);
      compute = { type: 'ec2', launchTemplate: infra.launchTemplateName, instanceTypes: ['m7i.large'], subnets: infra.subnetIds };
    }
    fleets.push(fleetSpecSchema.parse({ name, labels: ['self-hosted', name], maxRunners: perFleet, compute }));
  }
  return fleets;
}

async function runKind(kind: ComputeKind): Promise<Row> {
  const moto = await startMoto();
  const dir = mkdtempSync(join(tmpdir(), 'fleetbot-bench-reconciler-'));
  const store = new SqliteStore(join(dir, 'fleetbot.db'));
  try {
    const fleets = await fleetsFor(moto, kind);
    const config = {
      ...AWS_RETRY,
      endpoint: moto.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    };
    const counts = new CallCounter();
    const ecs = new ECSClient(config);
    const ec2 = new EC2Client(config);
    const ssm = new SSMClient(config);
    // One line per client: their middleware stacks have different types.
    ecs.middlewareStack.add((next, context) => (args) => counts.count(context.commandName, () => next(args)), COUNTING);
    ec2.middlewareStack.add((next, context) => (args) => counts.count(context.commandName, () => next(args)), COUNTING);
    ssm.middlewareStack.add((next, context) => (args) => counts.count(context.commandName, () => next(args)), COUNTING);
    const registry = new FleetRegistry(fleets);
    const compute = routerFor({ ecs: new EcsBackend(ecs), ec2: new Ec2Backend(ec2) });
    const log = pino({ level: 'error' }, process.stderr);
    // Credentials go nowhere: the runners exist for the reconciler to look at, and none will read one.
    const credentials = { put: async () => undefined, delete: async () => undefined };
    const scheduler = new Scheduler({ store, fleets: registry, compute, credentials, ci: new InstantCi(), log });
    const reconciler = new Reconciler({
      store,
      fleets: registry,
      compute,
      scheduler,
      credentials,
      log,
      launchTimeoutMs: 120_000,
      runnerParameters: new RunnerSecrets(ssm),
    });

    const setupStarted = Date.now();
    for (let start = 0; start < RUNNERS; start += SETUP_BATCH) {
      for (let jobIndex = start; jobIndex < Math.min(RUNNERS, start + SETUP_BATCH); jobIndex++) {
        const fleet = fleets[jobIndex % FLEETS];
        await scheduler.jobQueued({
          ci: 'github',
          jobId: String(9_000_000 + jobIndex),
          labels: fleet.labels,
          origin: { installationId: 1 },
        });
      }
      await scheduler.idle();
    }
    const setupSeconds = (Date.now() - setupStarted) / 1000;
    const running = (await store.activeRunners()).filter((runner) => runner.status === 'running' && runner.credentialIssued).length;
    if (running !== RUNNERS) throw new Error(`set-up left ${running} of ${RUNNERS} runners running`);

    const passMs: number[] = [];
    const awsMs: number[] = [];
    const cpuMs: number[] = [];
    const calls: Array<Map<string, number>> = [];
    const summaries: ReconcileSummary[] = [];
    for (let pass = 0; pass < PASSES; pass++) {
      counts.reset();
      const cpu = process.cpuUsage();
      const started = performance.now();
      summaries.push(await reconciler.pass());
      passMs.push(performance.now() - started);
      const used = process.cpuUsage(cpu);
      cpuMs.push((used.user + used.system) / 1000);
      awsMs.push(counts.waitedMs);
      calls.push(counts.current);
    }
    return { kind, runners: RUNNERS, setupSeconds, passMs, awsMs, cpuMs, calls, summaries };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    await moto.stop();
  }
}

function describeCalls(calls: Map<string, number>): string {
  const total = [...calls.values()].reduce((sum, count) => sum + count, 0);
  const byAction = [...calls].sort(([a], [b]) => a.localeCompare(b)).map(([action, count]) => `${action} ${count}`);
  return `${total} (${byAction.join(', ')})`;
}

async function main(): Promise<void> {
  const kinds = (process.env.BENCH_RECONCILER_COMPUTE ?? 'ecs').split(',') as ComputeKind[];
  console.log(
    `reconciler: ${RUNNERS} runners across ${FLEETS} fleets, in the store and in moto; ${PASSES} passes; target < ${TARGET_MS} ms`,
  );
  const rows: Row[] = [];
  for (const kind of kinds) {
    console.log(`\n== ${kind}`);
    const row = await runKind(kind);
    rows.push(row);
    console.log(`set-up (launch ${row.runners} runners)  ${row.setupSeconds.toFixed(1)} s`);
    row.passMs.forEach((ms, index) => {
      const changes = Object.entries(row.summaries[index])
        .filter(([, count]) => count > 0)
        .map(([key, count]) => `${key} ${count}`);
      console.log(
        `pass ${index + 1}  ${ms.toFixed(0).padStart(5)} ms (waiting for AWS ${row.awsMs[index].toFixed(0)} ms, own CPU ${row.cpuMs[index].toFixed(0)} ms)  AWS calls ${describeCalls(row.calls[index])}  changes: ${changes.join(', ') || 'none'}`,
      );
    });
  }
  console.log(
    '\n| compute | runners / fleets | pass p50 | pass max | waiting for AWS p50 | own CPU p50 | AWS calls, first pass | AWS calls, later passes |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.kind} | ${row.runners} / ${FLEETS} | ${percentile(row.passMs, 50).toFixed(0)} ms | ${Math.max(...row.passMs).toFixed(0)} ms | ${percentile(row.awsMs, 50).toFixed(0)} ms | ${percentile(row.cpuMs, 50).toFixed(0)} ms | ${describeCalls(row.calls[0])} | ${row.calls.length > 1 ? describeCalls(row.calls.at(-1)!) : '-'} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
