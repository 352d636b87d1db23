import { createAwsClients } from '../../src/aws.js';
import { parseStoreLocation } from '../../src/config.js';
import { DynamoStore } from '../../src/store/dynamo.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Admission, Store } from '../../src/store/types.js';

/**
 * A replica's burst of admissions, for the store contract's two-process test (run with node from dist/):
 *   node store-admit-burst.js <sqlite:path|dynamodb:table> <fleet> <maxRunners> <first job> <jobs> <runner prefix>
 * Admits jobs first..first+jobs-1 all at once, then prints how many came out of each kind, as JSON.
 */
const [where, fleet, maxRunners, first, count, prefix] = process.argv.slice(2);
const location = parseStoreLocation(where);
if (typeof location === 'string') throw new Error(location);
const store: Store =
  location.kind === 'sqlite'
    ? new SqliteStore(location.path)
    : new DynamoStore({ client: createAwsClients().dynamodb, table: location.table, retentionMs: 86_400_000 });
const limit = { name: fleet, maxRunners: Number(maxRunners) };
const admissions: Admission[] = await Promise.all(
  Array.from({ length: Number(count) }, (_, index) => {
    const id = Number(first) + index;
    const job = { ci: 'github' as const, jobId: String(id), labels: ['self-hosted'], origin: { installationId: 1 } };
    return store.admitJob(job, limit, `${prefix}-${id}`, Date.now());
  }),
);
const kinds: Record<string, number> = {};
for (const admission of admissions) kinds[admission.kind] = (kinds[admission.kind] ?? 0) + 1;
process.stdout.write(`${JSON.stringify(kinds)}\n`);
await store.close();
