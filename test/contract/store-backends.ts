import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsClients } from '../../src/aws.js';
import { createStoreTable } from '../../src/cli/store-table.js';
import { DynamoStore } from '../../src/store/dynamo.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { NewJob, Store } from '../../src/store/types.js';
import { describeWithMoto, motoAvailable, startMoto, type Moto } from '../helpers/moto.js';

/** One store under test, fresh for each test: SQLite in a new file, DynamoDB in a new table. */
export interface StoreUnderTest {
  store: Store;
  /** A second instance on the same file or table, with its own connection or client (another replica). */
  another(): Store;
  /** FLEETBOT_STORE's form of where it is, for child processes, and their environment. */
  location: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

export interface Backend {
  name: string;
  open(): Promise<StoreUnderTest>;
}

export const DAY = 86_400_000;

export function job(id: number | string): NewJob {
  return { ci: 'github', jobId: String(id), labels: ['self-hosted'], origin: { installationId: 1 } };
}

const sqlite: Backend = {
  name: 'SQLite',
  async open() {
    const file = join(mkdtempSync(join(tmpdir(), 'store-contract-')), 'fleetbot.db');
    const opened: SqliteStore[] = [new SqliteStore(file)];
    return {
      store: opened[0],
      another: () => {
        opened.push(new SqliteStore(file));
        return opened.at(-1)!;
      },
      location: `sqlite:${file}`,
      env: {},
      close: async () => {
        for (const store of opened) await store.close();
      },
    };
  },
};

/**
 * DynamoDB on moto, one moto_server (serial: see startMoto) for the calling test file and a new table for
 * each test: moto copies a whole table for every transaction (to roll back), so small tables keep it fast.
 */
function dynamodb(moto: () => Moto): Backend {
  let tables = 0;
  return {
    name: 'DynamoDB (moto)',
    async open() {
      const settings = { endpoint: moto().url, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
      const client = () => createAwsClients(settings).dynamodb;
      const table = `contract-${process.pid}-${++tables}`;
      const first = client();
      await createStoreTable(first, table);
      const open = (dynamo = client()) => new DynamoStore({ client: dynamo, table, retentionMs: 14 * DAY });
      return { store: open(first), another: () => open(), location: `dynamodb:${table}`, env: moto().env, close: async () => undefined };
    },
  };
}

/**
 * `describe.each` over both stores. The DynamoDB half needs moto_server: without it, it is skipped loudly
 * (a failure under CI=true), as every moto suite is.
 */
export function describeEachStore(title: string, body: (backend: Backend) => void): void {
  let moto: Moto | undefined;
  const backends = [sqlite, ...(motoAvailable ? [dynamodb(() => moto!)] : [])];
  if (motoAvailable) {
    beforeAll(async () => {
      moto = await startMoto({ serial: true });
    });
    afterAll(async () => moto?.stop());
  } else {
    describeWithMoto(`${title} (DynamoDB)`, () => undefined);
  }
  describe.each(backends)(`${title}: $name`, body);
}
