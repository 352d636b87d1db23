import {
  CreateTableCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { STORE_TABLE_KEYS } from '../store/dynamo-table.js';

/**
 * Creates the store's table (on-demand capacity, TTL on `expiresAt`) and waits until it is active.
 * For development and tests (`npm run store:init`); in production the control-plane stack creates it
 * with the same keys. An existing table is left as it is.
 */
export async function createStoreTable(client: DynamoDBClient, tableName: string): Promise<'created' | 'exists'> {
  const { partition, sort, indexes, ttl } = STORE_TABLE_KEYS;
  const keyNames = [partition, sort, ...indexes.flatMap((index) => [index.partition, index.sort])];
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: keyNames.map((name) => ({ AttributeName: name, AttributeType: 'S' })),
        KeySchema: [
          { AttributeName: partition, KeyType: 'HASH' },
          { AttributeName: sort, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: indexes.map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partition, KeyType: 'HASH' },
            { AttributeName: index.sort, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
      }),
    );
  } catch (error) {
    if (error instanceof ResourceInUseException) return 'exists';
    throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: tableName });
  await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: ttl, Enabled: true } }));
  return 'created';
}
