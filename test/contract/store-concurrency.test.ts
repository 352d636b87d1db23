import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Admission, Store } from '../../src/store/types.js';
import { describeEachStore, job, type StoreUnderTest } from './store-backends.js';

const BURST_SCRIPT = resolve('dist/test/helpers/store-admit-burst.js');
const JOBS = 200;
// Jobs both replicas admit too (a redelivery reaching each): fewer than all, as each lost race costs moto a transaction on the whole table.
const OVERLAP = 50;
const limit = { name: 'linux', maxRunners: 17 };

function tally(admissions: Admission[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const admission of admissions) kinds[admission.kind] = (kinds[admission.kind] ?? 0) + 1;
  return kinds;
}

/** One replica in its own node process: admits jobs first..first+count-1 at once, answers with its tally. */
function burstInProcess(opened: StoreUnderTest, first: number, count: number, prefix: string): Promise<Record<string, number>> {
  return new Promise((resolvePromise, reject) => {
    const args = [BURST_SCRIPT, opened.location, limit.name, String(limit.maxRunners), String(first), String(count), prefix];
    const child = spawn(process.execPath, args, { env: { ...process.env, ...opened.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolvePromise(JSON.parse(out) as Record<string, number>) : reject(new Error(`burst ${prefix} exited ${code}: ${err}`)),
    );
  });
}

/** What the store holds after a burst of JOBS jobs: exactly the cap active, every other job waiting, no job twice. */
async function expectCapExact(store: Store): Promise<void> {
  const active = await store.activeRunners();
  expect(active).toHaveLength(limit.maxRunners);
  expect(new Set(active.map((runner) => runner.jobId)).size).toBe(limit.maxRunners);
  expect((await store.fleetCounts()).get(limit.name)).toEqual({ active: limit.maxRunners, waiting: JOBS - limit.maxRunners });
  for (const runner of active) expect((await store.getJob('github', runner.jobId))?.launchAttempts).toBe(1);
}

describeEachStore('the store under concurrent replicas', (backend) => {
  let opened: StoreUnderTest;

  beforeEach(async () => {
    opened = await backend.open();
  });
  afterEach(() => opened.close());

  it(`admits each of ${JOBS} jobs once and claims exactly the cap when two instances admit them all at once`, async () => {
    const other = opened.another();
    const admissions = await Promise.all(
      Array.from({ length: JOBS }, (_, id) => [
        (id % 2 ? other : opened.store).admitJob(job(id), limit, `a-${id}`, id),
        ...(id < OVERLAP ? [(id % 2 ? opened.store : other).admitJob(job(id), limit, `b-${id}`, id)] : []),
      ]).flat(),
    );
    expect(tally(admissions)).toEqual({ claimed: limit.maxRunners, waiting: JOBS - limit.maxRunners, duplicate: OVERLAP });
    await expectCapExact(other);

    // The slots freed, both instances claim from the backlog at once: the oldest jobs, each once, never over the cap.
    for (const runner of await opened.store.activeRunners())
      await opened.store.releaseRunner(runner.name, 'done', { requeueJob: false }, JOBS);
    const waiting = admissions.filter((admission) => admission.kind === 'waiting').map((admission) => Number(admission.job.jobId));
    const claims = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        (index % 2 ? other : opened.store).claimNextWaiting(limit, (next) => `c-${next.jobId}`, JOBS + 1),
      ),
    );
    const claimed = claims.flatMap((claim) => (claim ? [Number(claim.job.jobId)] : []));
    expect(claimed.sort((a, b) => a - b)).toEqual(waiting.sort((a, b) => a - b).slice(0, limit.maxRunners));
    expect(await opened.store.activeRunners()).toHaveLength(limit.maxRunners);
  }, 180_000);

  it(`admits each of ${JOBS} jobs once and claims exactly the cap when two processes admit them all at once`, async () => {
    if (!existsSync(BURST_SCRIPT)) throw new Error(`${BURST_SCRIPT} is missing: npm run build first`);
    const half = (JOBS + OVERLAP) / 2;
    const tallies = await Promise.all([burstInProcess(opened, 0, half, 'a'), burstInProcess(opened, JOBS - half, half, 'b')]);
    const total = (kind: string) => tallies.reduce((sum, kinds) => sum + (kinds[kind] ?? 0), 0);
    expect([total('claimed'), total('waiting'), total('duplicate')]).toEqual([limit.maxRunners, JOBS - limit.maxRunners, OVERLAP]);
    await expectCapExact(opened.store);
  }, 180_000);
});
