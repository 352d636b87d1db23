import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { StoreLocation } from '../config.js';
import { DynamoDeliveryLog } from './dynamo-deliveries.js';
import { DynamoIssueOpsStore } from './dynamo-issueops.js';
import { DynamoLease } from './dynamo-lease.js';
import { DynamoStore } from './dynamo.js';
import { SqliteStore } from './sqlite.js';
import type { DeliveryLog, IssueOpsStore, Lease, Store, StoreRetention } from './types.js';

/** Everything the app keeps, wherever FLEETBOT_STORE puts it. */
export interface AppStores {
  jobs: Store;
  /** Only where history must be deleted by the app: DynamoDB's TTL deletes it by itself. */
  retention?: StoreRetention;
  issueOps: IssueOpsStore;
  deliveries: DeliveryLog;
  /** The replicas' leases on periodic work. */
  lease: Lease;
  close(): Promise<void>;
}

export interface StoreDependencies {
  dynamodb: DynamoDBClient;
  retentionMs: number;
}

type Openers = {
  [Kind in StoreLocation['kind']]: (location: Extract<StoreLocation, { kind: Kind }>, deps: StoreDependencies) => Promise<AppStores>;
};

/** One opener per kind of store: a kind without one does not compile. */
const OPENERS: Openers = {
  sqlite: async (location) => {
    const store = new SqliteStore(location.path);
    return {
      jobs: store,
      retention: store,
      issueOps: store.issueOps,
      deliveries: store.deliveries,
      lease: store.lease,
      close: () => store.close(),
    };
  },
  dynamodb: async (location, deps) => {
    const { dynamodb: client } = deps;
    const { table } = location;
    await requireTable(client, table);
    return {
      jobs: new DynamoStore({ client, table, retentionMs: deps.retentionMs }),
      issueOps: new DynamoIssueOpsStore(client, table),
      deliveries: new DynamoDeliveryLog(client, table),
      lease: new DynamoLease(client, table),
      // The client is the app's, shared with its other users: nothing of the store's own to close.
      close: async () => undefined,
    };
  },
};

export function openStores(location: StoreLocation, deps: StoreDependencies): Promise<AppStores> {
  return (OPENERS[location.kind] as (location: StoreLocation, deps: StoreDependencies) => Promise<AppStores>)(location, deps);
}

/** Fails at start, with what to do, rather than at the first webhook. */
async function requireTable(client: DynamoDBClient, table: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: table }));
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    throw new Error(`the DynamoDB table "${table}" does not exist: create it (npm run store:init -- dynamodb:${table}, or your stack)`);
  }
}
