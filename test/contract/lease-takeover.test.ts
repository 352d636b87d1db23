import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplicaLeases } from '../../src/lease-keeper.js';
import { packageRoot } from '../../src/package-root.js';
import { PeriodicTask } from '../../src/periodic-task.js';
import type { Lease } from '../../src/store/types.js';
import { eventually } from '../helpers/app-process.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { freshStoreTable, motoDynamoDb, storeBackends, type StoreUnderTest } from '../helpers/store-backends.js';

const TTL = 600;
const RACER = join(packageRoot(), 'dist/test/helpers/lease-racer.js');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A replica's view of the store that can be cut off, as a replica that died or lost the network is. */
function severable(lease: Lease) {
  let severed = false;
  const cut = () => Promise.reject(new Error('this replica is gone'));
  const store: ReplicaLeases['store'] = {
    acquire: (...args) => (severed ? cut() : lease.acquire(...args)),
    release: (...args) => (severed ? cut() : lease.release(...args)),
  };
  return { store, sever: () => (severed = true) };
}

/** Two replicas' reconciler-like tasks on one lease, each pass taking 10 ms, and what they did. */
function twoReplicas(lease: Lease) {
  let active = 0;
  let mostAtOnce = 0;
  const passes: Array<{ replica: string; at: number }> = [];
  const replicas = ['a', 'b'].map((name) => {
    const { store, sever } = severable(lease);
    const task = new PeriodicTask(
      async () => {
        active++;
        mostAtOnce = Math.max(mostAtOnce, active);
        passes.push({ replica: name, at: Date.now() });
        await sleep(10);
        active--;
      },
      () => undefined,
      { store, holder: name, ttlMs: TTL, name: 'reconciler' },
    );
    return { name, task, sever };
  });
  return { replicas, passes, mostAtOnce: () => mostAtOnce };
}

describeWithMoto('lease takeover between replicas', () => {
  // One request at a time, as DynamoDB applies concurrent writes to one item (see SERIAL_MOTO).
  let dynamodb: Moto;
  beforeAll(async () => {
    dynamodb = await startMoto({ serial: true });
  });
  afterAll(async () => dynamodb?.stop());

  describe.each(storeBackends(() => dynamodb.url))('on $name', (backend) => {
    let store: StoreUnderTest;
    beforeEach(async () => {
      store = await backend.open();
    });
    afterEach(() => store.close());

    it('runs passes on one replica at a time; when the holder stops renewing, the other takes over within 2×TTL', async () => {
      const { replicas, passes, mostAtOnce } = twoReplicas(store.lease);
      for (const { task } of replicas) task.start(50);
      await sleep(1_500);
      const holders = new Set(passes.map((pass) => pass.replica));
      expect(holders.size).toBe(1);
      const holder = replicas.find((replica) => holders.has(replica.name))!;
      const survivor = replicas.find((replica) => replica !== holder)!;

      holder.sever();
      const severedAt = Date.now();
      const takenOver = await eventually('the survivor to run a pass', async () => passes.find((pass) => pass.replica === survivor.name));
      const holderPasses = passes.filter((pass) => pass.replica === holder.name).length;
      await sleep(TTL);
      for (const { task } of replicas) await task.stop();

      expect(takenOver.at - severedAt).toBeLessThan(2 * TTL);
      // The holder ran passes for the rest of its last term only, all before the survivor's first; no two
      // passes ever ran at once.
      const holderLast = passes.filter((pass) => pass.replica === holder.name).at(-1)!;
      expect(passes.filter((pass) => pass.replica === holder.name)).toHaveLength(holderPasses);
      expect(holderLast.at).toBeLessThan(severedAt + TTL);
      expect(holderLast.at).toBeLessThan(takenOver.at);
      expect(mostAtOnce()).toBe(1);
    });

    it('a stopping holder gives its lease up: the other takes over within a third of the lease', async () => {
      const { replicas, passes } = twoReplicas(store.lease);
      for (const { task } of replicas) task.start(10_000);
      const first = await eventually('a first pass', async () => passes[0]);
      const holder = replicas.find((replica) => replica.name === first.replica)!;
      const survivor = replicas.find((replica) => replica !== holder)!;
      await holder.task.stop();
      const stoppedAt = Date.now();
      const takenOver = await eventually('the survivor to run a pass', async () => passes.find((pass) => pass.replica === survivor.name));
      await survivor.task.stop();
      expect(takenOver.at - stoppedAt).toBeLessThan(TTL / 3 + 100);
    });
  });

  it('two processes racing for one lease on one table: terms never overlap, and the survivor of a kill takes over within 2×TTL', async () => {
    if (!existsSync(RACER)) throw new Error(`${RACER} is missing: run "npm run build" first (npm test does)`);
    const client = motoDynamoDb(dynamodb.url);
    const table = await freshStoreTable(client);
    client.destroy();
    const successes: Array<{ holder: string; token: number; at: number }> = [];
    const racers = ['one', 'two'].map((holder) => {
      const child = spawn(process.execPath, [RACER], {
        env: {
          ...process.env,
          RACE_ENDPOINT: dynamodb.url,
          RACE_TABLE: table,
          RACE_HOLDER: holder,
          RACE_TTL_MS: String(TTL),
          RACE_FOR_MS: '4000',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) if (line) successes.push(JSON.parse(line));
      });
      return { holder, child, exited: new Promise((resolve) => child.once('exit', resolve)) };
    });

    await eventually('a first holder', async () => successes[0]);
    await sleep(1_000);
    const victim = racers.find((racer) => racer.holder === successes[0].holder)!;
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await Promise.all(racers.map((racer) => racer.exited));

    const victimLast = successes.filter((success) => success.holder === victim.holder).at(-1)!;
    const survivorFirst = successes.find((success) => success.holder !== victim.holder)!;
    expect(survivorFirst.at - killedAt).toBeLessThan(2 * TTL);
    expect(survivorFirst.at).toBeGreaterThanOrEqual(victimLast.at + TTL);
    expect(survivorFirst.token).toBeGreaterThan(victimLast.token);
    // Whenever the holder changes, the new term starts after the old one lapsed, with a greater token.
    successes.sort((x, y) => x.at - y.at);
    for (const [index, success] of successes.entries()) {
      const previous = successes[index - 1];
      if (!previous || previous.holder === success.holder) continue;
      expect(success.at).toBeGreaterThanOrEqual(previous.at + TTL);
      expect(success.token).toBeGreaterThan(previous.token);
    }
  }, 20_000);
});
