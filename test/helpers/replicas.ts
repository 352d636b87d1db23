import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createAwsClients } from '../../src/aws.js';
import { createStoreTable } from '../../src/cli/store-table.js';
import { documentClient } from '../../src/store/dynamo-documents.js';
import { DynamoStore } from '../../src/store/dynamo.js';
import { createRunnerInfra, ecsCompute, fleetbotTasks, tagOf } from './aws-fixture.js';
import { appEnvironment, sign, startAppProcess, type AppProcess } from './app-process.js';
import { startFakeGitHub, type FakeGitHub } from './fake-github.js';
import { startMoto, type Moto } from './moto.js';
import { completedJob, queuedJob } from './payloads.js';
import { createDeliveryQueues, messagesOn, type DeliveryQueues } from './queue-fixture.js';

/**
 * Several built-app replicas on one DynamoDB table, as issue 12's acceptance runs them. Two motos: a serial
 * one for DynamoDB (its transactions need it, see moto.ts) and a threaded one for ECS, SSM and SQS, whose
 * 20 s long polls would stall a serial server. The replicas reach DynamoDB through the SDK's
 * service-specific AWS_ENDPOINT_URL_DYNAMODB and everything else through AWS_ENDPOINT_URL.
 */
export interface ReplicaWorld {
  dynamo: Moto;
  moto: Moto;
  github: FakeGitHub;
  close(): Promise<void>;
}

export async function startReplicaWorld(): Promise<ReplicaWorld> {
  const dynamo = await startMoto({ serial: true });
  const moto = await startMoto();
  const github = await startFakeGitHub();
  return {
    dynamo,
    moto,
    github,
    close: async () => {
      await github.close();
      await moto.stop();
      await dynamo.stop();
    },
  };
}

export const FLEET = 'replicas';

/** One run's table, ECS cluster and environment; the store read the way an operator would, from outside. */
export interface ReplicaStage {
  env: Record<string, string>;
  store: DynamoStore;
  /** The holder of a lease (`<host>:<pid>:<random>`), as its item in the table says. */
  leaseHolder(name: string): Promise<{ holder: string; heldUntil: number } | undefined>;
  /** How many tasks the cloud started for each job (stopped ones included). */
  tasksPerJob(): Promise<Map<string, number>>;
}

export async function stageReplicas(world: ReplicaWorld, name: string, maxRunners: number, extra: Record<string, string> = {}) {
  const settings = { endpoint: world.dynamo.url, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const client = createAwsClients(settings).dynamodb;
  await createStoreTable(client, name);
  const documents = documentClient(client);
  const infra = await createRunnerInfra(world.moto, name);
  const env = appEnvironment(
    world.moto,
    world.github,
    [{ name: FLEET, labels: ['self-hosted', 'linux'], maxRunners, compute: ecsCompute(infra) }],
    {
      LOG_LEVEL: 'info',
      FLEETBOT_STORE: `dynamodb:${name}`,
      AWS_ENDPOINT_URL_DYNAMODB: world.dynamo.url,
      // The test re-posts what a replica failed to answer, as GitHub's redelivery would.
      FLEETBOT_DELIVERY_RECOVERY_SECONDS: '0',
      ...extra,
    },
  );
  const stage: ReplicaStage = {
    env,
    store: new DynamoStore({ client, table: name, retentionMs: 86_400_000 }),
    leaseHolder: async (lease) => {
      const { Item } = await documents.send(
        new GetCommand({ TableName: name, Key: { pk: `LEASE#${lease}`, sk: 'LEASE' }, ConsistentRead: true }),
      );
      return Item && { holder: Item.holder as string, heldUntil: Item.heldUntil as number };
    },
    tasksPerJob: async () => {
      const counts = new Map<string, number>();
      for (const task of await fleetbotTasks(world.moto, infra.cluster)) {
        const job = tagOf(task, 'fleetbot:job') ?? '?';
        counts.set(job, (counts.get(job) ?? 0) + 1);
      }
      return counts;
    },
  };
  return stage;
}

/** The replica whose process holds a lease, by the pid in its holder name. */
export function holderOf(replicas: readonly AppProcess[], holder: string): AppProcess | undefined {
  const pid = Number(holder.split(':').at(-2));
  return replicas.find((replica) => replica.pid === pid);
}

export interface Delivery {
  jobId: number;
  body: string;
  signature: string;
  /** The X-GitHub-Delivery GUID: the same for both sends of a delivery sent twice. */
  id?: string;
}

export function prepare(payload: Record<string, any>, id?: string): Delivery {
  const body = JSON.stringify(payload);
  return { jobId: payload.workflow_job.id as number, body, signature: sign(body), id };
}

/**
 * Posts to the replicas in turn. A replica that is dead (killed by the test) or answers other than 2xx
 * is skipped and the delivery posted to the next one, as GitHub's redelivery (or fleetbot's delivery
 * recovery) would bring it to a survivor; `reposted` counts those.
 */
export class RoundRobin {
  private next = 0;
  private readonly dead = new Set<AppProcess>();
  reposted = 0;

  constructor(readonly replicas: readonly AppProcess[]) {}

  live(): AppProcess[] {
    return this.replicas.filter((replica) => !this.dead.has(replica));
  }

  async kill(replica: AppProcess): Promise<void> {
    this.dead.add(replica);
    await replica.kill();
  }

  async post(delivery: Delivery): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const replica = this.replicas[this.next++ % this.replicas.length];
      if (this.dead.has(replica)) continue;
      const status = await replica.postPrepared('workflow_job', delivery.body, delivery.signature, delivery.id).catch(() => 0);
      if (status >= 200 && status < 300) return;
      this.reposted++;
    }
    throw new Error(`no replica took the delivery of job ${delivery.jobId}`);
  }

  /** Posts every delivery from `senders` concurrent loops; `onAnswered` sees the running count. */
  async postAll(deliveries: readonly Delivery[], senders: number, onAnswered?: (answered: number) => void): Promise<void> {
    let next = 0;
    let answered = 0;
    await Promise.all(
      Array.from({ length: senders }, async () => {
        while (next < deliveries.length) {
          await this.post(deliveries[next++]);
          onAnswered?.(++answered);
        }
      }),
    );
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The fleet's active count in the store's counter, sampled every ~25 ms until stopped; `peak` is the highest seen. */
export function sampleActive(store: DynamoStore): { peak: () => number; samples: () => number; stop: () => Promise<void> } {
  let peak = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const active = (await store.fleetCounts()).get(FLEET)?.active ?? 0;
      peak = Math.max(peak, active);
      samples++;
      await sleep(25);
    }
  })();
  return {
    peak: () => peak,
    samples: () => samples,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/**
 * Completes, round-robin across the replicas, each job whose runner is up in the store (and has been seen
 * up for `holdMs`: a job that takes that long), until `total` jobs are completed; each completion hands its
 * slot to the next job of the backlog. Returns the jobs completed.
 */
export async function completeAsLaunched(
  world: ReplicaWorld,
  stage: ReplicaStage,
  sender: RoundRobin,
  total: number,
  timeoutMs: number,
  holdMs = 0,
): Promise<Set<string>> {
  const completed = new Set<string>();
  const seenUp = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  while (completed.size < total) {
    if (Date.now() > deadline) throw new Error(`only ${completed.size} of ${total} jobs completed within ${timeoutMs} ms`);
    const up = (await stage.store.activeRunners()).filter((runner) => runner.status === 'running' && !completed.has(runner.jobId));
    for (const runner of up) if (!seenUp.has(runner.jobId)) seenUp.set(runner.jobId, Date.now());
    const fresh = up.filter((runner) => Date.now() - seenUp.get(runner.jobId)! >= holdMs);
    if (fresh.length === 0) {
      await sleep(50);
      continue;
    }
    for (const runner of fresh) {
      completed.add(runner.jobId);
      world.github.setJobStatus(runner.jobId, 'completed');
    }
    const payloads = fresh.map((runner) => completedJob({ jobId: Number(runner.jobId), org: 'acme', runnerName: runner.name }));
    await sender.postAll(
      payloads.map((payload) => prepare(payload)),
      16,
    );
  }
  return completed;
}

/** Each replica logs to a file beside its fleets file (replica-<n>.log): a busy test cannot stall its log writes. */
export async function startReplicas(stage: ReplicaStage, count: number): Promise<AppProcess[]> {
  return Promise.all(
    Array.from({ length: count }, (_, index) => startAppProcess(stage.env, { logFile: join(stage.env.HOME, `replica-${index}.log`) })),
  );
}

export interface ReplicaBurst {
  /** The table's and the cluster's name: one per run. */
  name: string;
  jobs: number;
  maxRunners: number;
  firstJobId: number;
  /** Through FLEETBOT_QUEUE_URL (a queue with a dead-letter queue, maxReceiveCount 5). */
  queue?: boolean;
  /** Every `sendTwiceEvery`-th queued delivery is posted a second time with the same delivery GUID. */
  sendTwiceEvery?: number;
  /** SIGKILL the replica holding the `reconciler` lease once this many queued deliveries were answered. */
  killAfterAnswered?: number;
  /** How long each job runs once its runner is up (default 0: completed as soon as seen up). */
  holdMs?: number;
}

export interface ReplicaBurstNumbers {
  seconds: number;
  launched: number;
  duplicates: number;
  peakSampled: number;
  samples: number;
  lost: number;
  /** Active and waiting in the fleet's counter once every job completed. */
  left: { active: number; waiting: number };
  reposted: number;
  sentTwice: number;
  queueLeft?: number;
  deadLetters?: number;
  /** From the SIGKILL to the reconciler lease in a survivor's hands. */
  leaseMovedMs?: number;
  leaseMovedToSurvivor?: boolean;
}

/** Environment a run adds: the queue's, and short leases and timeouts when it kills a replica. */
async function burstEnvironment(world: ReplicaWorld, burst: ReplicaBurst) {
  const extra: Record<string, string> = {};
  let queues: DeliveryQueues | undefined;
  if (burst.queue) {
    queues = await createDeliveryQueues(world.moto, burst.name, { maxReceiveCount: 5 });
    extra.FLEETBOT_QUEUE_URL = queues.url;
  }
  if (burst.killAfterAnswered !== undefined) {
    // The lease lapses 3 s after the dead holder's last renewal; the reconciler then runs every second and
    // relaunches what the dead replica claimed but did not launch once its launch is 10 s old.
    Object.assign(extra, { FLEETBOT_LEASE_SECONDS: '3', FLEETBOT_RECONCILE_INTERVAL_SECONDS: '1', FLEETBOT_LAUNCH_TIMEOUT_SECONDS: '10' });
  }
  return { extra, queues };
}

/** The queued deliveries, each `sendTwiceEvery`-th sent again (same GUID) once the burst is through. */
function queuedDeliveries(burst: ReplicaBurst): Delivery[] {
  const ids = Array.from({ length: burst.jobs }, (_, index) => burst.firstJobId + index);
  const deliveries = ids.map((jobId) => prepare(queuedJob({ jobId, org: 'acme' }), burst.sendTwiceEvery ? `queued-${jobId}` : undefined));
  const twice = burst.sendTwiceEvery ? deliveries.filter((_, index) => index % burst.sendTwiceEvery! === 0) : [];
  return [...deliveries, ...twice];
}

/** Kills the reconciler lease's holder and measures how long until a survivor holds it. */
async function killLeaseHolder(stage: ReplicaStage, sender: RoundRobin): Promise<{ movedMs: number; toSurvivor: boolean }> {
  const held = await stage.leaseHolder('reconciler');
  const victim = held && holderOf(sender.replicas, held.holder);
  if (!victim) throw new Error(`no replica holds the reconciler lease (${JSON.stringify(held)})`);
  await sender.kill(victim);
  const killedAt = Date.now();
  for (;;) {
    const now = await stage.leaseHolder('reconciler');
    const holder = now && holderOf(sender.replicas, now.holder);
    if (holder && holder !== victim) return { movedMs: Date.now() - killedAt, toSurvivor: sender.live().includes(holder) };
    if (Date.now() - killedAt > 60_000) throw new Error('the reconciler lease did not move within 60 s');
    await sleep(100);
  }
}

/** Waits until the fleet has no runner active and no job waiting, or `timeoutMs`; returns the counts last read. */
async function drained(stage: ReplicaStage, timeoutMs: number): Promise<{ active: number; waiting: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = (await stage.store.fleetCounts()).get(FLEET) ?? { active: 0, waiting: 0 };
    if ((counts.active === 0 && counts.waiting === 0) || Date.now() > deadline) return counts;
    await sleep(100);
  }
}

/**
 * Issue 12's burst on three replicas sharing one table: `jobs` queued deliveries round-robin from 16
 * senders, completions as runners come up, optionally through the queue, with deliveries sent twice, or
 * with the lease holder killed. Returns what the cloud and the store show afterwards; asserts nothing.
 */
export async function runReplicaBurst(world: ReplicaWorld, burst: ReplicaBurst, timeoutMs: number): Promise<ReplicaBurstNumbers> {
  const { extra, queues } = await burstEnvironment(world, burst);
  const stage = await stageReplicas(world, burst.name, burst.maxRunners, extra);
  const replicas = await startReplicas(stage, 3);
  console.log(`${burst.name}: replica logs in ${stage.env.HOME}`);
  const sender = new RoundRobin(replicas);
  try {
    const deliveries = queuedDeliveries(burst);
    let killing: Promise<{ movedMs: number; toSurvivor: boolean }> | undefined;
    if (burst.killAfterAnswered !== undefined) await waitForLease(stage);
    const sampler = sampleActive(stage.store);
    const started = Date.now();
    const posting = sender.postAll(deliveries, 16, (answered) => {
      if (answered === burst.killAfterAnswered) killing = killLeaseHolder(stage, sender);
    });
    // Completions go out as runners come up, while the burst is still arriving: slots turn over under it.
    await Promise.all([posting, completeAsLaunched(world, stage, sender, burst.jobs, timeoutMs, burst.holdMs)]);
    const moved = await killing;
    const left = await drained(stage, 30_000);
    const seconds = (Date.now() - started) / 1000;
    await sampler.stop();
    const perJob = await stage.tasksPerJob();
    const lost = await countNotCompleted(stage, burst);
    return {
      seconds,
      launched: perJob.size,
      duplicates: [...perJob.values()].filter((tasks) => tasks > 1).length,
      peakSampled: sampler.peak(),
      samples: sampler.samples(),
      lost,
      left,
      reposted: sender.reposted,
      sentTwice: deliveries.length - burst.jobs,
      ...(queues && (await queueCounts(queues))),
      ...(moved && { leaseMovedMs: moved.movedMs, leaseMovedToSurvivor: moved.toSurvivor }),
    };
  } finally {
    for (const replica of sender.live()) await replica.stop();
  }
}

async function waitForLease(stage: ReplicaStage): Promise<void> {
  while (!(await stage.leaseHolder('reconciler'))) await sleep(100);
}

async function countNotCompleted(stage: ReplicaStage, burst: ReplicaBurst): Promise<number> {
  let lost = 0;
  for (let index = 0; index < burst.jobs; index++) {
    const job = await stage.store.getJob('github', String(burst.firstJobId + index));
    if (job?.status !== 'completed') lost++;
  }
  return lost;
}

/** Once the queue is empty (or 30 s passed): what is left on it, and on its dead-letter queue. */
async function queueCounts(queues: DeliveryQueues): Promise<{ queueLeft: number; deadLetters: number }> {
  const deadline = Date.now() + 30_000;
  let queueLeft = await messagesOn(queues.sqs, queues.url);
  while (queueLeft > 0 && Date.now() < deadline) {
    await sleep(200);
    queueLeft = await messagesOn(queues.sqs, queues.url);
  }
  return { queueLeft, deadLetters: await messagesOn(queues.sqs, queues.deadLetterUrl) };
}
