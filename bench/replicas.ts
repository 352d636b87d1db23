/**
 * `npm run bench:replicas`: issue 12's acceptance at full size: three replicas of the built app on one
 * DynamoDB table (a serial moto; ECS and SQS on a second moto), 1,000 queued jobs round-robin from 16
 * senders for a fleet with maxRunners 100, each job completed BENCH_HOLD_SECONDS (default 5) after its
 * runner is up, so that the fleet fills to its cap. Three runs: webhooks handled
 * where they arrive; through FLEETBOT_QUEUE_URL with 5 % of the deliveries sent twice; and the reconciler
 * lease holder killed with SIGKILL mid-burst. Prints numbers; asserts nothing (test/e2e/replicas.test.ts
 * asserts the same at a size CI affords). BENCH_REPLICAS_RUNS picks runs (webhooks,queue,kill).
 */
import { runReplicaBurst, startReplicaWorld, type ReplicaBurst } from '../test/helpers/replicas.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const MAX_RUNNERS = Number(process.env.BENCH_MAX_RUNNERS ?? 100);
const HOLD_MS = Number(process.env.BENCH_HOLD_SECONDS ?? 5) * 1000;

const RUNS: Record<string, Partial<ReplicaBurst>> = {
  webhooks: {},
  queue: { queue: true, sendTwiceEvery: 20 },
  kill: { killAfterAnswered: Math.round(JOBS * 0.4) },
};

async function main(): Promise<void> {
  console.log(`replicas: 3 replicas on one DynamoDB table, ${JOBS} jobs, 16 senders, maxRunners ${MAX_RUNNERS}`);
  const world = await startReplicaWorld();
  try {
    const chosen = (process.env.BENCH_REPLICAS_RUNS ?? Object.keys(RUNS).join(',')).split(',').filter(Boolean);
    for (const [index, run] of chosen.entries()) {
      const burst = {
        name: `bench-${run}`,
        jobs: JOBS,
        maxRunners: MAX_RUNNERS,
        firstJobId: 20_000_000 + index * 100_000,
        holdMs: HOLD_MS,
        ...RUNS[run],
      };
      const numbers = await runReplicaBurst(world, burst, 60 * 60_000);
      console.log(`\n== ${run}`);
      console.log(`all ${JOBS} jobs done after   ${numbers.seconds.toFixed(1)} s`);
      console.log(`jobs launched on ECS        ${numbers.launched} (jobs with two tasks or more: ${numbers.duplicates})`);
      console.log(`peak active (sampled)       ${numbers.peakSampled} of ${MAX_RUNNERS} (${numbers.samples} samples)`);
      console.log(`jobs not completed (lost)   ${numbers.lost}`);
      console.log(`left in the fleet           active ${numbers.left.active}, waiting ${numbers.left.waiting}`);
      console.log(`deliveries re-posted        ${numbers.reposted}`);
      if (burst.queue) {
        console.log(`deliveries sent twice       ${numbers.sentTwice}`);
        console.log(`left on queue / DLQ         ${numbers.queueLeft} / ${numbers.deadLetters}`);
      }
      if (numbers.leaseMovedMs !== undefined) {
        console.log(
          `reconciler lease moved in   ${(numbers.leaseMovedMs / 1000).toFixed(1)} s (to a survivor: ${numbers.leaseMovedToSurvivor})`,
        );
      }
    }
  } finally {
    await world.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
