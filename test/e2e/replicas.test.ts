import { describeWithMoto } from '../helpers/moto.js';
import { runReplicaBurst, startReplicaWorld, type ReplicaBurst, type ReplicaBurstNumbers, type ReplicaWorld } from '../helpers/replicas.js';

/**
 * Issue 12's acceptance, end to end: three built-app replicas on one `dynamodb:` table. `npm test` runs
 * the size CI affords (200 jobs, maxRunners 20; see README, "Replicas, end to end"); `npm run test:scale`
 * runs the issue's size, 1,000 jobs and maxRunners 100 with each job held 5 s once its runner is up so
 * that the fleet fills, which takes 4-8 minutes a run against moto.
 */
const JOBS = Number(process.env.REPLICAS_TEST_JOBS ?? 200);
const MAX_RUNNERS = Number(process.env.REPLICAS_TEST_MAX_RUNNERS ?? 20);
const HOLD_MS = Number(process.env.REPLICAS_TEST_HOLD_SECONDS ?? 0) * 1000;
const TIMEOUT_MS = Number(process.env.REPLICAS_TEST_TIMEOUT_SECONDS ?? 240) * 1000;

function report(what: string, numbers: ReplicaBurstNumbers): void {
  console.log(`${what}, ${JOBS} jobs, maxRunners ${MAX_RUNNERS}: ${JSON.stringify(numbers)}`);
}

/** Launched once each, never above the cap, every job completed, nothing left in the fleet. */
function expectEveryJobOnceUnderTheCap(numbers: ReplicaBurstNumbers): void {
  expect(numbers.launched).toBe(JOBS);
  expect(numbers.duplicates).toBe(0);
  expect(numbers.peakSampled).toBe(MAX_RUNNERS);
  expect(numbers.lost).toBe(0);
  expect(numbers.left).toEqual({ active: 0, waiting: 0 });
}

describeWithMoto('three replicas on one DynamoDB table', () => {
  let world: ReplicaWorld;
  beforeAll(async () => {
    world = await startReplicaWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  const burst = (name: string, firstJobId: number, extra: Partial<ReplicaBurst> = {}) =>
    runReplicaBurst(world, { name, jobs: JOBS, maxRunners: MAX_RUNNERS, firstJobId, holdMs: HOLD_MS, ...extra }, TIMEOUT_MS);

  it(
    'deliveries round-robin from 16 senders: every job launched once, peak active = maxRunners, none lost',
    async () => {
      const numbers = await burst('replicas-webhooks', 12_000_000);
      report('webhooks', numbers);
      expectEveryJobOnceUnderTheCap(numbers);
      expect(numbers.reposted).toBe(0);
    },
    TIMEOUT_MS + 60_000,
  );

  it(
    'through FLEETBOT_QUEUE_URL with 5 % of the deliveries sent twice: no duplicate, dead-letter queue empty',
    async () => {
      const numbers = await burst('replicas-queue', 13_000_000, { queue: true, sendTwiceEvery: 20 });
      report('queue', numbers);
      expectEveryJobOnceUnderTheCap(numbers);
      expect(numbers.sentTwice).toBe(JOBS / 20);
      expect(numbers.queueLeft).toBe(0);
      expect(numbers.deadLetters).toBe(0);
    },
    TIMEOUT_MS + 60_000,
  );

  it(
    'the reconciler lease holder killed with SIGKILL mid-burst: the lease moves within 30 s, nothing lost, nothing launched twice',
    async () => {
      const numbers = await burst('replicas-kill', 14_000_000, { killAfterAnswered: Math.round(JOBS * 0.4) });
      report('kill -9', numbers);
      // Deliveries in flight to the killed replica failed and went to a survivor: it died mid-burst.
      expect(numbers.reposted).toBeGreaterThan(0);
      expect(numbers.leaseMovedToSurvivor).toBe(true);
      expect(numbers.leaseMovedMs).toBeLessThanOrEqual(30_000);
      expect(numbers.launched).toBe(JOBS);
      expect(numbers.duplicates).toBe(0);
      expect(numbers.peakSampled).toBeLessThanOrEqual(MAX_RUNNERS);
      expect(numbers.lost).toBe(0);
      expect(numbers.left).toEqual({ active: 0, waiting: 0 });
    },
    TIMEOUT_MS + 60_000,
  );
});
