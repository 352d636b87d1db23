/**
 * `npm run bench`: a burst of 1,000 signed `workflow_job.queued` webhooks from 16 concurrent senders
 * at the app started as `npm start` runs it (real HTTP, Octokit throttling on), for a fleet with
 * maxRunners 100, against moto and a local fake GitHub; then every job is completed. Run for an ECS
 * fleet once per credential mode (BENCH_MODES), and for an EC2 fleet from a launch template once per
 * BENCH_EC2_MODES (default registration-token; empty for none). Prints numbers; asserts nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { FleetSpecInput } from '../src/fleets/spec.js';
import { createRunnerInfra, ecsCompute, fleetbotTasks, tagOf } from '../test/helpers/aws-fixture.js';
import { appEnvironment, sign, startAppProcess, type AppProcess } from '../test/helpers/app-process.js';
import { allInstances, createEc2RunnerInfra, tagsAsRecord } from '../test/helpers/ec2-fixture.js';
import { startFakeGitHub } from '../test/helpers/fake-github.js';
import { startMoto, type Moto } from '../test/helpers/moto.js';
import { completedJob, queuedJob } from '../test/helpers/payloads.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const SENDERS = 16;
const MAX_RUNNERS = 100;
const FIRST_JOB_ID = 5_000_000;

type CredentialMode = 'jit' | 'registration-token';
type ComputeKind = 'ecs' | 'ec2';

/** Where the bench fleet runs, and the fleet's runners as the cloud shows them. */
interface Target {
  compute: FleetSpecInput['compute'];
  /** The AWS call that starts one runner, for the printout. */
  launchCall: string;
  /** The job tag of every runner ever started for the fleet, stopped ones included. */
  jobTags(): Promise<Array<string | undefined>>;
}

async function ecsTarget(moto: Moto): Promise<Target> {
  const infra = await createRunnerInfra(moto);
  return {
    compute: ecsCompute(infra),
    launchCall: 'RunTask',
    jobTags: async () => (await fleetbotTasks(moto, infra.cluster)).map((task) => tagOf(task, 'fleetbot:job')),
  };
}

async function ec2Target(moto: Moto): Promise<Target> {
  // Every instance of the burst keeps its address in moto, terminated or not: /20s hold them all.
  const infra = await createEc2RunnerInfra(moto, 'fleetbot-bench', ['10.1.0.0/20', '10.1.16.0/20']);
  return {
    compute: { type: 'ec2', launchTemplate: infra.launchTemplateName, instanceTypes: ['m7i.large'], subnets: infra.subnetIds },
    launchCall: 'RunInstances',
    jobTags: async () => (await allInstances(moto)).map((instance) => tagsAsRecord(instance.Tags)['fleetbot:job']),
  };
}

interface Row {
  compute: ComputeKind;
  launchCall: string;
  mode: string;
  responseP50: number;
  responseP99: number;
  serverQueuedP99: number;
  serverCompletedP99: number;
  runTaskP50: number;
  runTaskP99: number;
  launched: number;
  duplicates: number;
  peakActive: number;
  waitingLeft: number;
  lost: number;
  firstWaveCredentialsSeconds: number;
  githubCredentialRequests: number;
  totalSeconds: number;
  peakRssMb: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Sends every payload from `senders` concurrent loops; returns each response time in ms. Payloads are
 * serialised and signed before the clock starts: the bench measures the app, not its own JSON and HMAC.
 */
async function sendAll(app: AppProcess, event: string, payloads: unknown[], senders: number): Promise<number[]> {
  const prepared = payloads.map((payload) => {
    const body = JSON.stringify(payload);
    return { body, signature: sign(body) };
  });
  const times: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (next < prepared.length) {
        const { body, signature } = prepared[next++];
        const started = performance.now();
        const status = await app.postPrepared(event, body, signature);
        times.push(performance.now() - started);
        if (status !== 200) throw new Error(`webhook answered ${status}`);
      }
    }),
  );
  return times;
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

async function runMode(kind: ComputeKind, mode: CredentialMode): Promise<Row> {
  const moto = await startMoto();
  const github = await startFakeGitHub();
  const target = kind === 'ecs' ? await ecsTarget(moto) : await ec2Target(moto);
  const fleet: FleetSpecInput = {
    name: 'bench',
    labels: ['self-hosted', 'linux'],
    maxRunners: MAX_RUNNERS,
    credentials: mode,
    compute: target.compute,
  };
  const env = appEnvironment(moto, github, [fleet], {
    LOG_LEVEL: 'info',
    FLEETBOT_RECONCILE_INTERVAL_SECONDS: '3600',
  });
  // BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the app under load.
  const app = await startAppProcess(env, {
    nodeArgs: process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean),
    logFile: join(dirname(env.FLEETBOT_DB), `../app-${kind}-${mode}.log`),
  });
  const db = new Database(env.FLEETBOT_DB, { readonly: true });
  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  const activeNow = () => count("SELECT COUNT(*) AS n FROM runners WHERE status IN ('launching', 'running')");
  let peakActive = 0;
  const sampler = setInterval(() => (peakActive = Math.max(peakActive, activeNow())), 25);

  try {
    // A deployed app is warm: one job through the whole path first loads what its first use loads.
    const warmUp = FIRST_JOB_ID - 1;
    await sendAll(app, 'workflow_job', [queuedJob({ jobId: warmUp, org: 'acme' })], 1);
    await waitFor('the warm-up runner', () => count('SELECT COUNT(*) AS n FROM runners WHERE credential_issued = 1') === 1, 60_000);
    const warmRunner = (db.prepare('SELECT runner_name FROM jobs WHERE job_id = ?').get(String(warmUp)) as { runner_name: string })
      .runner_name;
    await sendAll(app, 'workflow_job', [completedJob({ jobId: warmUp, org: 'acme', runnerName: warmRunner })], 1);
    await waitFor('the warm-up slot to free', () => activeNow() === 0, 60_000);
    const warmUpLines = launchLines(app.output()).length;
    const warmUpWebhooks = webhookServerTimes(app.output()).length;

    const started = Date.now();
    const ids = Array.from({ length: JOBS }, (_, index) => FIRST_JOB_ID + index);
    const responseTimes = await sendAll(
      app,
      'workflow_job',
      ids.map((jobId) => queuedJob({ jobId, org: 'acme' })),
      SENDERS,
    );

    const firstWave = Math.min(JOBS, MAX_RUNNERS);
    await waitFor(
      'the first wave of credentials',
      () => count('SELECT COUNT(*) AS n FROM runners WHERE credential_issued = 1') >= firstWave + 1,
      15 * 60_000,
    );
    const firstWaveCredentialsSeconds = (Date.now() - started) / 1000;
    const firstWaveLaunches = launchLines(app.output()).slice(warmUpLines);

    // Complete every job whose runner is up; each completion hands its slot to the next backlog job.
    const completed = new Set<string>();
    while (completed.size < JOBS) {
      const launched = db.prepare("SELECT job_id, runner_name FROM jobs WHERE status = 'launched'").all() as Array<{
        job_id: string;
        runner_name: string;
      }>;
      const fresh = launched.filter((job) => !completed.has(job.job_id));
      if (fresh.length === 0) {
        const open = count("SELECT COUNT(*) AS n FROM jobs WHERE status IN ('waiting', 'launching')");
        if (open === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      fresh.forEach((job) => completed.add(job.job_id));
      await sendAll(
        app,
        'workflow_job',
        fresh.map((job) => completedJob({ jobId: Number(job.job_id), org: 'acme', runnerName: job.runner_name })),
        SENDERS,
      );
    }
    const totalSeconds = (Date.now() - started) / 1000;
    if (process.env.BENCH_APP_LOG) writeFileSync(`${process.env.BENCH_APP_LOG}.${kind}-${mode}`, app.output());
    const serverTimes = webhookServerTimes(app.output()).slice(warmUpWebhooks);
    clearInterval(sampler);

    const perJob = new Map<string, number>();
    for (const job of await target.jobTags()) {
      if (job === undefined || job === String(warmUp)) continue;
      perJob.set(job, (perJob.get(job) ?? 0) + 1);
    }
    const runTaskTimes = firstWaveLaunches.map((line) => line.claimToRunTaskMs);
    const credentialRoute = mode === 'jit' ? /generate-jitconfig$/ : /registration-token$/;
    const stored = count('SELECT COUNT(*) AS n FROM jobs') - 1;
    return {
      compute: kind,
      launchCall: target.launchCall,
      mode,
      responseP50: percentile(responseTimes, 50),
      responseP99: percentile(responseTimes, 99),
      serverQueuedP99: percentile(serverTimes.slice(0, JOBS), 99),
      serverCompletedP99: percentile(serverTimes.slice(JOBS), 99),
      runTaskP50: percentile(runTaskTimes, 50),
      runTaskP99: percentile(runTaskTimes, 99),
      launched: perJob.size,
      duplicates: [...perJob.values()].filter((launches) => launches > 1).length,
      peakActive,
      waitingLeft: count("SELECT COUNT(*) AS n FROM jobs WHERE status = 'waiting'"),
      lost: JOBS - stored + count("SELECT COUNT(*) AS n FROM jobs WHERE status NOT IN ('completed', 'abandoned')"),
      firstWaveCredentialsSeconds,
      // Counted from the warm-up on: a registration token it fetched serves the burst too.
      githubCredentialRequests: github.requestsTo('POST', credentialRoute).length,
      totalSeconds,
      peakRssMb: peakRssMb(app.pid),
    };
  } finally {
    clearInterval(sampler);
    db.close();
    await app.stop();
    await github.close();
    await moto.stop();
  }
}

/** Webhook response times as the app measured them (Probot's HTTP log), in arrival order. */
function webhookServerTimes(output: string): number[] {
  return output
    .split('\n')
    .filter((line) => line.includes('"responseTime"') && line.includes('/api/github/webhooks'))
    .map((line) => (JSON.parse(line) as { responseTime: number }).responseTime);
}

/** The `runner launched` log lines the app wrote (JSON logs), in order. */
function launchLines(output: string): Array<{ claimToRunTaskMs: number }> {
  return output
    .split('\n')
    .filter((line) => line.includes('"runner launched"'))
    .map((line) => JSON.parse(line) as { claimToRunTaskMs: number });
}

function modesFrom(value: string): CredentialMode[] {
  return value.split(',').filter(Boolean) as CredentialMode[];
}

async function main(): Promise<void> {
  console.log(`burst: ${JOBS} queued webhooks, ${SENDERS} senders, maxRunners ${MAX_RUNNERS}, Octokit throttling on`);
  const rows: Row[] = [];
  const runs: Array<[ComputeKind, CredentialMode]> = [
    ...modesFrom(process.env.BENCH_MODES ?? 'registration-token,jit').map((mode) => ['ecs', mode] as [ComputeKind, CredentialMode]),
    ...modesFrom(process.env.BENCH_EC2_MODES ?? 'registration-token').map((mode) => ['ec2', mode] as [ComputeKind, CredentialMode]),
  ];
  for (const [kind, mode] of runs) {
    console.log(`\n== ${kind}, credentials: ${mode}`);
    const row = await runMode(kind, mode);
    rows.push(row);
    const ms = (value: number) => `${value.toFixed(1)} ms`;
    console.log(`webhook response (sender)  p50 ${ms(row.responseP50)}   p99 ${ms(row.responseP99)}`);
    console.log(`webhook response (app)     queued p99 ${ms(row.serverQueuedP99)}   completed p99 ${ms(row.serverCompletedP99)}`);
    console.log(`receipt → ${row.launchCall} (1st 100) p50 ${ms(row.runTaskP50)}   p99 ${ms(row.runTaskP99)}`);
    console.log(`runs launched              ${row.launched} (duplicates: ${row.duplicates})`);
    console.log(`highest active runners     ${row.peakActive} (cap ${MAX_RUNNERS})`);
    console.log(`jobs left waiting / lost   ${row.waitingLeft} / ${row.lost}`);
    console.log(`first ${Math.min(JOBS, MAX_RUNNERS)} credentials in SSM after ${row.firstWaveCredentialsSeconds.toFixed(1)} s`);
    console.log(`GitHub credential requests ${row.githubCredentialRequests} (warm-up job included)`);
    console.log(`all ${JOBS} jobs done after   ${row.totalSeconds.toFixed(1)} s`);
    console.log(`app peak RSS               ${row.peakRssMb} MB`);
  }
  console.log(
    '\n| compute | credentials | response p50/p99 (sender) | app-side p99 queued/completed | receipt→launch call p50/p99 | launched | dupes | peak active | waiting | lost | first 100 credentials | credential requests | all done | peak RSS |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.compute} | ${row.mode} | ${row.responseP50.toFixed(1)} / ${row.responseP99.toFixed(1)} ms | ${row.serverQueuedP99} / ${row.serverCompletedP99} ms | ${row.runTaskP50.toFixed(1)} / ${row.runTaskP99.toFixed(1)} ms (${row.launchCall}) | ${row.launched} | ${row.duplicates} | ${row.peakActive} | ${row.waitingLeft} | ${row.lost} | ${row.firstWaveCredentialsSeconds.toFixed(1)} s | ${row.githubCredentialRequests} | ${row.totalSeconds.toFixed(1)} s | ${row.peakRssMb} MB |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
