import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createAwsClients } from '../../src/aws.js';
import { createStoreTable } from '../../src/cli/store-table.js';
import { DynamoDeliveryLog } from '../../src/store/dynamo-deliveries.js';
import { DynamoIssueOpsStore } from '../../src/store/dynamo-issueops.js';
import { DynamoLease } from '../../src/store/dynamo-lease.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { describeWithMoto, startMoto, type Moto } from './moto.js';
import type { DeliveryLog, IssueOpsStore, Lease } from '../../src/store/types.js';

/** The parts of a store the scale-out contract covers, on a fresh store of one backend. */
export interface StoreUnderTest {
  lease: Lease;
  issueOps: IssueOpsStore;
  deliveries: DeliveryLog;
  close(): Promise<void>;
}

export interface StoreBackend {
  name: 'sqlite' | 'dynamodb';
  open(): Promise<StoreUnderTest>;
}

/** A DynamoDB client on `endpoint` (a serial moto), failing fast (tests want the first error, not six). */
export function motoDynamoDb(endpoint: string): DynamoDBClient {
  return createAwsClients({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 2,
  }).dynamodb;
}

/** A new table of the store's keys on moto, named uniquely. */
export async function freshStoreTable(client: DynamoDBClient): Promise<string> {
  const table = `fleetbot-${randomUUID().slice(0, 8)}`;
  await createStoreTable(client, table);
  return table;
}

/**
 * SQLite on a file of its own, and DynamoDB on a table of its own at `endpoint()`: the test file's
 * serial moto_server, which applies concurrent writes one at a time as DynamoDB does.
 */
export function storeBackends(endpoint: () => string): StoreBackend[] {
  return [
    {
      name: 'sqlite',
      open: async () => {
        const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'contract-')), 'fleetbot.db'));
        return { lease: store.lease, issueOps: store.issueOps, deliveries: store.deliveries, close: () => store.close() };
      },
    },
    {
      name: 'dynamodb',
      open: async () => {
        const client = motoDynamoDb(endpoint());
        const table = await freshStoreTable(client);
        return {
          lease: new DynamoLease(client, table),
          issueOps: new DynamoIssueOpsStore(client, table),
          deliveries: new DynamoDeliveryLog(client, table),
          close: async () => client.destroy(),
        };
      },
    },
  ];
}

/**
 * The contract's frame: the file's serial moto_server (startMoto's `serial`), and `body` once per backend,
 * with a fresh store of that backend before each test (read it with `store()`).
 */
export function describeOnEveryStore(title: string, body: (store: () => StoreUnderTest) => void): void {
  describeWithMoto(title, () => {
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
      body(() => store);
    });
  });
}
