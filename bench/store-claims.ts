/**
 * The store under a burst, SQLite beside DynamoDB: 1,000 jobs admitted by 16 concurrent senders for a
 * fleet with maxRunners 100 (the first 100 claimed at once, the rest waiting), then every job completed,
 * each completion followed by a drain of the backlog (one at a time per fleet), as the scheduler does. The store is the app's own,
 * in-process; DynamoDB is moto (one request at a time, as DynamoDB applies writes to one item), so its
 * figures are moto's speed, not DynamoDB's: they show what a claim costs in round trips next to SQLite.
 * Prints claims per second, admit and claim latency, what is left active or waiting (none), and RSS.
 * Asserts nothing. BENCH_CLAIMS_JOBS, _SENDERS, _MAX and BENCH_CLAIMS_STORES (sqlite,dynamodb) adjust it.
 *
 *   npm run build && node dist/bench/store-claims.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsClients } from '../src/aws.js';
import { createStoreTable } from '../src/cli/store-table.js';
import { CoalescedRuns } from '../src/coalesced-runs.js';
import { DynamoStore } from '../src/store/dynamo.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { FleetLimit, NewJob, Store } from '../src/store/types.js';
import { startMoto, type Moto } from '../test/helpers/moto.js';

const JOBS = Number(process.env.BENCH_CLAIMS_JOBS ?? 1000);
const SENDERS = Number(process.env.BENCH_CLAIMS_SENDERS ?? 16);
const FLEET: FleetLimit = { name: 'bench', maxRunners: Number(process.env.BENCH_CLAIMS_MAX ?? 100) };
const STORES = (process.env.BENCH_CLAIMS_STORES ?? 'sqlite,dynamodb').split(',').filter(Boolean);

interface Row {
  store: string;
  claims: number;
  claimsPerSecond: number;
  admitP50: number;
  admitP99: number;
  completeAndClaimP99: number;
  leftActive: number;
  leftWaiting: number;
  rssMb: number;
  seconds: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

const job = (index: number): NewJob => ({ ci: 'github', jobId: String(index), labels: ['self-hosted'], origin: { owner: 'acme' } });

/** Runs `work` for every item from `senders` concurrent loops; returns each call's time in ms. */
async function timedLoops<T>(items: T[], senders: number, work: (item: T) => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (next < items.length) {
        const item = items[next++];
        const started = performance.now();
        await work(item);
        times.push(performance.now() - started);
      }
    }),
  );
  return times;
}

async function burst(name: string, store: Store): Promise<Row> {
  let claims = 0;
  const running: string[] = [];
  const claimed = (runnerName: string) => {
    claims++;
    running.push(runnerName);
  };
  const started = performance.now();
  const admitTimes = await timedLoops(
    Array.from({ length: JOBS }, (_, index) => index),
    SENDERS,
    async (index) => {
      const admission = await store.admitJob(job(index), FLEET, `bench-${index}`, Date.now());
      if (admission.kind === 'claimed') claimed(admission.runner.name);
    },
  );
  // Each completion frees a slot, and the backlog is drained, one drain of the fleet at a time, as the scheduler does.
  const drains = new CoalescedRuns();
  const drain = () =>
    drains.run(FLEET.name, async () => {
      let count = 0;
      for (let next; (next = await store.claimNextWaiting(FLEET, (waiting) => `bench-${waiting.jobId}`, Date.now())); count++) {
        claimed(next.runner.name);
      }
      return count;
    });
  const completeTimes: number[] = [];
  while (running.length > 0) {
    const batch = running.splice(0, running.length);
    completeTimes.push(
      ...(await timedLoops(batch, SENDERS, async (runnerName) => {
        const runner = await store.getRunner(runnerName);
        await store.completeJob('github', runner!.jobId, runnerName, Date.now());
        await drain();
      })),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const left = (await store.fleetCounts()).get(FLEET.name) ?? { active: 0, waiting: 0 };
  return {
    store: name,
    claims,
    claimsPerSecond: Math.round(claims / seconds),
    admitP50: percentile(admitTimes, 50),
    admitP99: percentile(admitTimes, 99),
    completeAndClaimP99: percentile(completeTimes, 99),
    leftActive: left.active,
    leftWaiting: left.waiting,
    rssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
    seconds,
  };
}

async function sqliteRow(): Promise<Row> {
  const directory = mkdtempSync(join(tmpdir(), 'fleetbot-bench-claims-'));
  const store = new SqliteStore(join(directory, 'fleetbot.db'));
  try {
    return await burst('sqlite', store);
  } finally {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function dynamodbRow(): Promise<Row> {
  const moto: Moto = await startMoto({ serial: true });
  try {
    const client = createAwsClients({
      endpoint: moto.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    }).dynamodb;
    await createStoreTable(client, 'bench');
    return await burst('dynamodb (moto)', new DynamoStore({ client, table: 'bench', retentionMs: 86_400_000 }));
  } finally {
    await moto.stop();
  }
}

const RUNS: Record<string, () => Promise<Row>> = { sqlite: sqliteRow, dynamodb: dynamodbRow };

async function main(): Promise<void> {
  console.log(`store burst: ${JOBS} jobs, ${SENDERS} senders, maxRunners ${FLEET.maxRunners}`);
  console.log('| store | claims | claims/s | admit p50 / p99 | complete + drain p99 | left active / waiting | RSS | total |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const name of STORES) {
    const run = RUNS[name];
    if (!run) throw new Error(`unknown store ${name} in BENCH_CLAIMS_STORES (sqlite, dynamodb)`);
    const row = await run();
    const ms = (value: number) => `${value.toFixed(1)} ms`;
    console.log(
      `| ${row.store} | ${row.claims} | ${row.claimsPerSecond} | ${ms(row.admitP50)} / ${ms(row.admitP99)} | ` +
        `${ms(row.completeAndClaimP99)} | ${row.leftActive} / ${row.leftWaiting} | ${row.rssMb} MB | ${row.seconds.toFixed(1)} s |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
