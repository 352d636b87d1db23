import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DescribeTimeToLiveCommand, GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createAwsClients } from '../../../src/aws.js';
import { EXIT } from '../../../src/cli/command.js';
import { main } from '../../../src/cli/main.js';
import { createStoreInitCommand, createStoreMigrateCommand } from '../../../src/cli/store.js';
import { DynamoStore } from '../../../src/store/dynamo.js';
import { DynamoDeliveryLog } from '../../../src/store/dynamo-deliveries.js';
import { DynamoIssueOpsStore } from '../../../src/store/dynamo-issueops.js';
import { DynamoLease } from '../../../src/store/dynamo-lease.js';
import { openStores } from '../../../src/store/open.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { FleetRequestRecord, IssueOpsStore, NewJob, Store } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { failure } from '../../helpers/failure.js';
import { describeWithMoto, startMoto, type Moto } from '../../helpers/moto.js';
import { captureContext } from '../../unit/cli/cli-context.js';

const DAY = 86_400_000;
const fleet = { name: 'linux', maxRunners: 2 };
const job = (id: number | string, installationId = 1): NewJob => ({
  ci: 'github',
  jobId: String(id),
  labels: ['x'],
  origin: { installationId },
});

const REPO = 'acme/runner-fleets';

describeWithMoto('the DynamoDB store: store:init, store:migrate, TTL', () => {
  let moto: Moto;
  let client: DynamoDBClient;
  let tables = 0;
  const commands = () => {
    const deps = { dynamodb: () => client };
    return { 'store:init': createStoreInitCommand(deps), 'store:migrate': createStoreMigrateCommand(deps) };
  };
  const run = async (...argv: string[]) => {
    const context = captureContext(tmpdir(), { FLEETBOT_RETENTION_DAYS: '14' });
    const code = await main(argv, context, commands());
    return { code, out: context.stdout(), err: context.stderr() };
  };
  const newTable = async () => {
    const table = `cli-${++tables}`;
    expect(await run('store:init', `dynamodb:${table}`)).toEqual({ code: EXIT.ok, out: `created table ${table}`, err: '' });
    return table;
  };

  beforeAll(async () => {
    moto = await startMoto();
    client = createAwsClients({
      endpoint: moto.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    }).dynamodb;
  });
  afterAll(() => moto.stop());

  it('store:init creates the table on demand, with TTL on expiresAt and both indexes, and leaves an existing one be', async () => {
    const table = await newTable();
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual(['gsi1', 'gsi2']);
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'expiresAt', TimeToLiveStatus: 'ENABLED' });
    expect(await run('store:init', `dynamodb:${table}`)).toMatchObject({ code: EXIT.ok, out: `table ${table} exists; left as it is` });
  });

  it('refuses a store it cannot read, saying why', async () => {
    expect(await run('store:init', 'postgres:x')).toMatchObject({
      code: EXIT.usage,
      err: expect.stringContaining('"postgres:x" is neither'),
    });
    expect(await run('store:init', 'dynamodb:a')).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('3 to 255') });
    expect(await run('store:migrate', 'dynamodb:abc', 'dynamodb:def')).toMatchObject({
      code: EXIT.usage,
      err: expect.stringContaining('must be sqlite'),
    });
    const missing = await run('store:migrate', 'sqlite:/nonexistent/fleetbot.db', 'dynamodb:abc');
    expect(missing).toMatchObject({ code: EXIT.failed, err: expect.stringContaining('cannot read /nonexistent/fleetbot.db') });
  });

  it('the app opens its whole store on an existing table (jobs, IssueOps, deliveries, leases), with TTL instead of a prune task', async () => {
    const table = await newTable();
    const stores = await openStores({ kind: 'dynamodb', table }, { dynamodb: client, retentionMs: DAY });
    expect(stores.jobs).toBeInstanceOf(DynamoStore);
    expect(stores.issueOps).toBeInstanceOf(DynamoIssueOpsStore);
    expect(stores.deliveries).toBeInstanceOf(DynamoDeliveryLog);
    expect(stores.lease).toBeInstanceOf(DynamoLease);
    expect(stores.retention).toBeUndefined();
    expect(await stores.deliveries.claimHandling('guid-1', 1)).toBe(true);
    await stores.close();
  });

  it('the app refuses to start on a table that does not exist, naming store:init', async () => {
    const error = await failure(openStores({ kind: 'dynamodb', table: 'no-such-table' }, { dynamodb: client, retentionMs: DAY }));
    expect((error as Error).message).toBe(
      'the DynamoDB table "no-such-table" does not exist: create it (npm run store:init -- dynamodb:no-such-table, or your stack)',
    );
  });

  /**
   * A SQLite store with every kind of record: claimed, launched, waiting (one unchecked), completed,
   * unmatched, warm; and a job completed a month ago, past the retention.
   */
  async function sqliteWithHistory(): Promise<{ file: string; sqlite: SqliteStore }> {
    const file = join(mkdtempSync(join(tmpdir(), 'migrate-')), 'fleetbot.db');
    const sqlite = new SqliteStore(file);
    const at = Date.now() - 60_000;
    await sqlite.admitJob(job('old'), fleet, 'r-old', at - 30 * DAY);
    await sqlite.completeJob('github', 'old', 'r-old', at - 30 * DAY);
    for (let id = 1; id <= 5; id++) await sqlite.admitJob(job(id, id % 2), fleet, `r${id}`, at + id);
    await sqlite.markRunnerLaunched('r1', 'arn:1', 'FARGATE', at + 6);
    await sqlite.completeJob('github', '1', 'r1', at + 7);
    const claim = (await sqlite.claimNextWaiting(fleet, (next) => `r${next.jobId}`, at + 8))!;
    await sqlite.deferUncheckedJob(claim, 'job status unknown', 1_000, at + 9);
    await sqlite.admitJob(job(9), undefined, 'x', at + 10);
    await sqlite.claimWarmRunner({ name: 'warm', maxRunners: 1 }, { ...job('warm:w1'), labels: [] }, 'w1', at + 11);
    // IssueOps: a fleet applied by request #7, and request #9 planning a second one, changed by bob, holding its lock.
    const spec = ecsFleet({ name: 'linux-big' });
    await sqlite.issueOps.saveRequest(issueOpsRequest(7, { status: 'applied', appliedSha: 'a1', fleet: 'linux-big', spec } as const));
    await sqlite.issueOps.putProvisionedFleet({
      name: 'linux-big',
      requested: spec,
      live: spec,
      status: 'live',
      appliedSha: 'a1',
      requestIssue: 7,
      updatedAt: at,
    });
    await sqlite.issueOps.saveRequest(issueOpsRequest(9, { fleet: 'gpu', spec: ecsFleet({ name: 'gpu' }) }));
    await sqlite.issueOps.addRequestChanger(REPO, 9, 'bob', at);
    await sqlite.issueOps.acquireFleetLock('gpu', REPO, 9, at);
    return { file, sqlite };
  }

  function issueOpsRequest(issueNumber: number, overrides: Partial<FleetRequestRecord>): FleetRequestRecord {
    return <FleetRequestRecord>{
      ...{ repo: REPO, issueNumber, kind: 'create', installationId: 1, author: 'octocat', status: 'planning', detail: null },
      ...{ prNumber: issueNumber + 1, branch: `fleetbot/fleet-${overrides.fleet}`, plannedSha: null, planFile: null },
      ...{ plannedAt: null, planSummary: null, appliedSha: null, createdAt: issueNumber, updatedAt: issueNumber },
      ...overrides,
    };
  }

  async function issueOpsSnapshot(store: IssueOpsStore) {
    return {
      requests: await Promise.all([7, 9].map((issue) => store.getRequest(REPO, issue))),
      changers: await store.requestChangers(REPO, 9),
      applied: await store.provisionedFleets(),
      locks: await store.fleetLocks(),
    };
  }

  async function snapshot(store: Store) {
    const jobs = await Promise.all(['1', '2', '3', '4', '5', '9', 'warm:w1'].map((id) => store.getJob('github', id)));
    return { jobs, counts: await store.fleetCounts(), active: await store.activeRunners(), runner: await store.getRunner('r1') };
  }

  it('store:migrate copies jobs and runners with their backlog places and counts, and IssueOps state; a second run copies nothing', async () => {
    const { file, sqlite } = await sqliteWithHistory();
    const table = await newTable();
    const migrated = await run('store:migrate', `sqlite:${file}`, `dynamodb:${table}`);
    expect(migrated).toEqual({
      code: EXIT.ok,
      out: [
        'jobs: 7 copied, 0 already there, 1 past the retention',
        'runners: 4 copied, 0 already there, 1 past the retention',
        'IssueOps requests: 2 copied, 0 already there (1 changers copied)',
        'applied fleets: 1 copied, 0 already there',
        'fleet locks: 1 copied, 0 already there',
      ].join('\n'),
      err: '',
    });
    const issueOps = new DynamoIssueOpsStore(client, table);
    expect(await issueOpsSnapshot(issueOps)).toEqual(await issueOpsSnapshot(sqlite.issueOps));
    expect((await issueOpsSnapshot(issueOps)).locks).toHaveLength(1);
    const dynamo = new DynamoStore({ client, table, retentionMs: 14 * DAY });
    expect(await snapshot(dynamo)).toEqual(await snapshot(sqlite));
    expect(await dynamo.getJob('github', 'old')).toBeUndefined();
    const origins = async (store: Store) => (await store.jobOrigins(0)).map((origin) => origin.jobId).sort();
    expect(await origins(dynamo)).toEqual(['4', 'warm:w1']);
    expect(await origins(dynamo)).toEqual(await origins(sqlite));

    expect(await run('store:migrate', `sqlite:${file}`, `dynamodb:${table}`)).toMatchObject({
      out: [
        'jobs: 0 copied, 7 already there, 1 past the retention',
        'runners: 0 copied, 4 already there, 1 past the retention',
        'IssueOps requests: 0 copied, 2 already there (0 changers copied)',
        'applied fleets: 0 copied, 1 already there',
        'fleet locks: 0 copied, 1 already there',
      ].join('\n'),
    });
    expect(await issueOpsSnapshot(issueOps)).toEqual(await issueOpsSnapshot(sqlite.issueOps));
    expect(await dynamo.fleetCounts()).toEqual(await sqlite.fleetCounts());
    // The backlog goes on in the same order in both: job 4 (checked) before job 3 (unchecked, passed over), then 5.
    await dynamo.releaseRunner('r2', 'done', { requeueJob: false }, Date.now());
    await sqlite.releaseRunner('r2', 'done', { requeueJob: false }, Date.now());
    for (const store of [dynamo, sqlite]) {
      const order = [];
      for (
        let claim;
        (claim = await store.claimNextWaiting(
          { ...fleet, maxRunners: 9 },
          (next) => `n${next.jobId}`,
          21,
          order.length ? [] : [{ ci: 'github', jobId: '3' }],
        ));
      ) {
        order.push(claim.job.jobId);
      }
      expect(order).toEqual(['4', '3', '5']);
    }
    await sqlite.close();
  });

  it('marks finished jobs and released runners to expire after the retention, and nothing waiting or running', async () => {
    const table = await newTable();
    const store = new DynamoStore({ client, table, retentionMs: 3 * DAY });
    const at = Date.UTC(2026, 11, 5);
    await store.admitJob(job(1), fleet, 'r1', at);
    await store.admitJob(job(2), { ...fleet, maxRunners: 1 }, 'r2', at);
    await store.admitJob(job(3), undefined, 'x', at);
    await store.completeJob('github', '1', 'r1', at + 1000);
    const expiresAt = async (pk: string, sk: string) =>
      (await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk }, sk: { S: sk } } }))).Item?.expiresAt?.N;
    const expiry = String(Math.ceil((at + 1000 + 3 * DAY) / 1000));
    expect(await expiresAt('JOB#github#1', 'JOB')).toBe(expiry);
    expect(await expiresAt('RUNNER#r1', 'RUNNER')).toBe(expiry);
    expect(await expiresAt('JOB#github#3', 'JOB')).toBe(String(Math.ceil((at + 3 * DAY) / 1000)));
    expect(await expiresAt('JOB#github#2', 'JOB')).toBeUndefined();
    await store.admitJob(job(4), fleet, 'r4', at);
    expect(await expiresAt('RUNNER#r4', 'RUNNER')).toBeUndefined();
  });
});
