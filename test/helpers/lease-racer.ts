import { DynamoLease } from '../../src/store/dynamo-lease.js';
import { motoDynamoDb } from './store-backends.js';

/**
 * A replica racing for one lease, as a process of its own (`node dist/test/helpers/lease-racer.js`):
 * tries to take or renew the lease `race` every sixth of its time, for RACE_FOR_MS, and prints one JSON
 * line `{ holder, token, at }` per success. It never releases: the test kills it as a crash would.
 */
async function race(env: NodeJS.ProcessEnv): Promise<void> {
  const lease = new DynamoLease(motoDynamoDb(env.RACE_ENDPOINT!), env.RACE_TABLE!);
  const holder = env.RACE_HOLDER!;
  const ttlMs = Number(env.RACE_TTL_MS);
  const until = Date.now() + Number(env.RACE_FOR_MS);
  while (Date.now() < until) {
    const at = Date.now();
    const token = await lease.acquire('race', holder, ttlMs, at);
    if (token !== undefined) console.log(JSON.stringify({ holder, token, at }));
    await new Promise((resolve) => setTimeout(resolve, ttlMs / 6));
  }
}

await race(process.env);
