/**
 * The one table of the DynamoDB store (single-table design). Every item has a partition key `pk` and a
 * sort key `sk`, both strings whose prefixes say what the item is (`JOB#github#123`, `FLEET#linux`...).
 * Two overloaded secondary indexes serve the other access paths (a fleet's backlog in arrival order,
 * active runners, a request by pull request), each item type writing its own `gsi1*`/`gsi2*` values or
 * none (sparse indexes: only items that need the path are in it).
 *
 * Finished records carry `expiresAt` (epoch seconds): DynamoDB's TTL deletes them, which is how the
 * scale-out store stays bounded, as retention does for SQLite.
 */
export const STORE_TABLE_KEYS = {
  partition: 'pk',
  sort: 'sk',
  indexes: [
    { name: 'gsi1', partition: 'gsi1pk', sort: 'gsi1sk' },
    { name: 'gsi2', partition: 'gsi2pk', sort: 'gsi2sk' },
  ],
  ttl: 'expiresAt',
} as const;
