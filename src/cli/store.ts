import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createAwsClients } from '../aws.js';
import { ConfigError, parseStoreLocation, readConfig, type StoreLocation } from '../config.js';
import { DynamoImport, readSqliteRecords, type ImportCounts } from '../store/dynamo-import.js';
import { DynamoIssueOpsStore } from '../store/dynamo-issueops.js';
import { DynamoReads } from '../store/dynamo-reads.js';
import { importIssueOpsState } from '../store/issueops-import.js';
import { SqliteStore } from '../store/sqlite.js';
import { CommandError, EXIT, parseCommandArgs, UsageError, type CliContext, type Command } from './command.js';
import { createStoreTable } from './store-table.js';

export interface StoreCommandDependencies {
  /** The DynamoDB client for the environment: the SDK's standard chain (AWS_REGION, AWS_ENDPOINT_URL, ...). */
  dynamodb(env: NodeJS.ProcessEnv): DynamoDBClient;
}

const defaults: StoreCommandDependencies = {
  dynamodb: (env) => createAwsClients({ endpoint: env.AWS_ENDPOINT_URL, region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION }).dynamodb,
};

function location(text: string): StoreLocation {
  const parsed = parseStoreLocation(text);
  if (typeof parsed === 'string') throw new UsageError(parsed);
  return parsed;
}

/** The app's settings, for FLEETBOT_STORE and the retention; an invalid environment is the user's to fix. */
function appConfig(context: CliContext) {
  try {
    return readConfig(context.env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CommandError(error.message, EXIT.usage);
    throw error;
  }
}

const initUsage = `Usage: fleetbot store:init [<store>]

Creates the store: for dynamodb:<table>, the table (on-demand capacity, TTL on expiresAt, the two indexes
the store uses), against AWS_ENDPOINT_URL when it is set — for development and tests; in production the
stack creates it with the same keys. An existing table is left as it is. For sqlite:<path>, the file
with its schema. <store> is sqlite:<path> or dynamodb:<table> (default: $FLEETBOT_STORE, else the app's
SQLite file).`;

export function createStoreInitCommand(deps: StoreCommandDependencies = defaults): Command {
  return {
    summary: 'Create the store: a DynamoDB table (development and tests), or the SQLite file',
    usage: initUsage,
    async run(args: string[], context: CliContext): Promise<number> {
      const { positionals } = parseCommandArgs(args, {});
      if (positionals.length > 1) throw new UsageError(`one store, not ${positionals.length}`);
      const where = positionals[0] === undefined ? appConfig(context).store : location(positionals[0]);
      if (where.kind === 'sqlite') {
        await new SqliteStore(where.path).close();
        context.out(`SQLite store ready: ${where.path}`);
        return EXIT.ok;
      }
      const outcome = await createStoreTable(deps.dynamodb(context.env), where.table);
      context.out(outcome === 'created' ? `created table ${where.table}` : `table ${where.table} exists; left as it is`);
      return EXIT.ok;
    },
  };
}

const migrateUsage = `Usage: fleetbot store:migrate <sqlite:path> <dynamodb:table>

Copies the jobs and runners of a SQLite store into a DynamoDB store's table (create it first: store:init):
waiting jobs keep their place in their fleet's backlog, and the fleets' counts follow what is copied. Then
IssueOps' requests (with who changed them), applied fleets and fleet locks.
Records already in the table are left as they are, so a second run copies nothing. Stop the app that
uses the SQLite file first; replicas may already use the table. Finished records get expiresAt from their
last change and FLEETBOT_RETENTION_DAYS; those already past it are not copied.`;

export function createStoreMigrateCommand(deps: StoreCommandDependencies = defaults): Command {
  return {
    summary: "Copy a SQLite store's jobs, runners and IssueOps state into a DynamoDB store's table",
    usage: migrateUsage,
    async run(args: string[], context: CliContext): Promise<number> {
      const { positionals } = parseCommandArgs(args, {});
      if (positionals.length !== 2) throw new UsageError('it takes a SQLite store and a DynamoDB table');
      const [from, to] = positionals.map(location);
      if (from.kind !== 'sqlite') throw new UsageError(`the first store must be sqlite:<path>, not ${positionals[0]}`);
      if (to.kind !== 'dynamodb') throw new UsageError(`the second store must be dynamodb:<table>, not ${positionals[1]}`);
      let records: ReturnType<typeof readSqliteRecords>;
      try {
        records = readSqliteRecords(from.path);
      } catch (error) {
        throw new CommandError(`cannot read ${from.path}: ${(error as Error).message}`);
      }
      const target = new DynamoImport(new DynamoReads(deps.dynamodb(context.env), to.table), appConfig(context).retentionMs);
      const now = Date.now();
      const jobs = await target.jobs(records.jobs, now);
      const runners = await target.runners(records.runners, now);
      await target.origins(records.jobs, now);
      const issueOps = await importIssueOpsState(from.path, new DynamoIssueOpsStore(deps.dynamodb(context.env), to.table), now);
      context.out(
        [
          `jobs: ${describe(jobs)}`,
          `runners: ${describe(runners)}`,
          `IssueOps requests: ${issueOps.requests.copied} copied, ${issueOps.requests.skipped} already there` +
            ` (${issueOps.changers} changers copied)`,
          `applied fleets: ${issueOps.provisionedFleets.copied} copied, ${issueOps.provisionedFleets.skipped} already there`,
          `fleet locks: ${issueOps.fleetLocks.copied} copied, ${issueOps.fleetLocks.skipped} already there`,
        ].join('\n'),
      );
      return EXIT.ok;
    },
  };
}

const describe = (counts: ImportCounts) => `${counts.copied} copied, ${counts.skipped} already there, ${counts.expired} past the retention`;

export const storeInitCommand = createStoreInitCommand();
export const storeMigrateCommand = createStoreMigrateCommand();
