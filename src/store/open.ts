import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DEFAULT_SQLITE_PATH, type StoreLocation } from '../config.js';
import { DynamoStore } from './dynamo.js';
import { SqliteStore } from './sqlite.js';
import type { DeliveryLog, IssueOpsStore, Store, StoreRetention } from './types.js';

/** Everything the app keeps, wherever FLEETBOT_STORE puts it. */
export interface AppStores {
  jobs: Store;
  /** Only where history must be deleted by the app: DynamoDB's TTL deletes it by itself. */
  retention?: StoreRetention;
  issueOps: IssueOpsStore;
  deliveries: DeliveryLog;
  close(): Promise<void>;
}

export interface StoreDependencies {
  dynamodb: DynamoDBClient;
  retentionMs: number;
  /** With dynamodb:, the SQLite file that keeps IssueOps and delivery GUIDs meanwhile (see below); default ./data/fleetbot.db. */
  localSqlitePath?: string;
}

type Openers = {
  [Kind in StoreLocation['kind']]: (location: Extract<StoreLocation, { kind: Kind }>, deps: StoreDependencies) => Promise<AppStores>;
};

/** One opener per kind of store: a kind without one does not compile. */
const OPENERS: Openers = {
  sqlite: async (location) => {
    const store = new SqliteStore(location.path);
    return { jobs: store, retention: store, issueOps: store.issueOps, deliveries: store.deliveries, close: () => store.close() };
  },
  dynamodb: async (location, deps) => {
    await requireTable(deps.dynamodb, location.table);
    // IssueOps requests and webhook delivery GUIDs stay in the embedded SQLite file (one replica's) until
    // their DynamoDB stores join the jobs and runners in the table.
    const local = new SqliteStore(deps.localSqlitePath ?? DEFAULT_SQLITE_PATH);
    return {
      jobs: new DynamoStore({ client: deps.dynamodb, table: location.table, retentionMs: deps.retentionMs }),
      issueOps: local.issueOps,
      deliveries: local.deliveries,
      close: () => local.close(),
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
