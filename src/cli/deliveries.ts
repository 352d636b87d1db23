import {
  DELIVERY_RETENTION_MS,
  needingRecovery,
  octokitDeliveriesApi,
  type DeliveriesApi,
  type HookDelivery,
} from '../ci/github-deliveries.js';
import type { InstallationOctokit } from '../github-client.js';
import type { RetryPolicy } from '../retry.js';
import { appOctokit } from './app-environment.js';
import { CommandError, EXIT, parseCommandArgs, UsageError, type CliContext, type Command } from './command.js';
import { parseLimit, parseSince } from './since.js';
import { formatTable, printResult, type Column } from './table.js';

/**
 * `deliveries` and `redeliver`: the App's webhook delivery log, read and replayed as the App (JWT), outside
 * the server. "Failed" is what the app's own recovery means (src/ci/github-deliveries.ts): the latest
 * attempt of a GUID answered nothing or 4xx/5xx.
 */

export interface DeliveryCommandDependencies {
  /** The App-authenticated Octokit (app-environment.ts's appOctokit). */
  appOctokit(context: CliContext): Promise<InstallationOctokit>;
  retry?: RetryPolicy;
  now?: () => number;
}

const defaults: DeliveryCommandDependencies = { appOctokit };
const REDELIVERY_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 500, maxDelayMs: 5_000 };

/** The credentials first: a missing one is reported as such, not as a failed call. */
async function api(deps: DeliveryCommandDependencies, context: CliContext): Promise<DeliveriesApi> {
  const octokit = await deps.appOctokit(context);
  return octokitDeliveriesApi(async () => octokit, deps.retry ?? REDELIVERY_RETRY);
}

/** Every delivery back to `since`, newest first, with a count on standard error as pages come. */
async function readSince(deliveries: DeliveriesApi, since: number, context: CliContext): Promise<HookDelivery[]> {
  const read: HookDelivery[] = [];
  try {
    reading: for await (const page of deliveries.pages()) {
      for (const delivery of page) {
        if (Date.parse(delivery.delivered_at) < since) break reading;
        read.push(delivery);
      }
      context.err(`read ${read.length} deliveries…`);
    }
  } catch (error) {
    throw githubFailure('listing the deliveries', error);
  }
  return read;
}

function githubFailure(doing: string, error: unknown): CommandError {
  const status = (error as { status?: unknown }).status;
  if (typeof status !== 'number') return new CommandError(`${doing} failed: ${(error as Error).message}`);
  const why = status === 401 ? ': the App credentials (APP_ID, PRIVATE_KEY) are not accepted' : `: ${(error as Error).message}`;
  return new CommandError(`GitHub answered ${status} ${doing}${why}`);
}

const deliveryColumns: Column<HookDelivery>[] = [
  { header: 'ID', value: (delivery) => String(delivery.id), align: 'right' },
  { header: 'DELIVERED', value: (delivery) => delivery.delivered_at },
  { header: 'EVENT', value: (delivery) => (delivery.action ? `${delivery.event}.${delivery.action}` : delivery.event) },
  { header: 'STATUS', value: (delivery) => (delivery.status_code === 0 ? 'no answer' : String(delivery.status_code)) },
  { header: 'REDELIVERY', value: (delivery) => (delivery.redelivery ? 'yes' : 'no') },
  { header: 'GUID', value: (delivery) => delivery.guid },
];

const SINCE_USAGE = '  --since <when>  Read back to then: 30m, 2h, 1d or an ISO time (default: 3d, all GitHub keeps)';

export function createDeliveriesCommand(deps: DeliveryCommandDependencies = defaults): Command {
  return {
    summary: "The App's webhook deliveries, newest first (--failed: those still failed)",
    usage: `Usage: fleetbot deliveries [--failed] [--since <when>] [--limit <n>] [--json]

Reads GET /app/hook/deliveries as the App (APP_ID, PRIVATE_KEY or PRIVATE_KEY_PATH; GHE_HOST).

  --failed        Only deliveries whose latest attempt got no answer or a 4xx/5xx, as the app's recovery sees them
${SINCE_USAGE}
  --limit <n>     Show at most n, 1 to 10000 (default 50)
  --json          Print JSON for scripts instead of a table`,
    async run(args, context) {
      const { values, positionals } = parseCommandArgs(args, {
        failed: { type: 'boolean' },
        since: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
      });
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      const now = (deps.now ?? Date.now)();
      const since = values.since === undefined ? now - DELIVERY_RETENTION_MS : parseSince(values.since, now);
      const limit = parseLimit(values.limit, 50, 10_000);
      const read = await readSince(await api(deps, context), since, context);
      const shown = (values.failed ? needingRecovery(read) : read).slice(0, limit);
      printResult(context, values.json, shown, (rows) =>
        rows.length === 0
          ? `No ${values.failed ? 'failed ' : ''}deliveries since ${new Date(since).toISOString()}.`
          : formatTable(rows, deliveryColumns),
      );
      return EXIT.ok;
    },
  };
}

interface RedeliveryOutcome {
  redelivered: number[];
  refused: { id: number; error: string }[];
}

async function redeliverEach(deliveries: DeliveriesApi, ids: number[], context: CliContext): Promise<RedeliveryOutcome> {
  const outcome: RedeliveryOutcome = { redelivered: [], refused: [] };
  for (const [index, id] of ids.entries()) {
    try {
      await deliveries.redeliver(id);
      outcome.redelivered.push(id);
    } catch (error) {
      outcome.refused.push({ id, error: githubFailure(`redelivering ${id}`, error).message });
    }
    if (ids.length > 1) context.err(`redelivered ${index + 1}/${ids.length}…`);
  }
  return outcome;
}

function renderOutcome(outcome: RedeliveryOutcome): string {
  const lines = outcome.redelivered.map((id) => `redelivery of ${id} requested`);
  lines.push(...outcome.refused.map((refusal) => `redelivery of ${refusal.id} refused: ${refusal.error}`));
  return lines.length === 0 ? 'No failed deliveries to redeliver.' : lines.join('\n');
}

export function createRedeliverCommand(deps: DeliveryCommandDependencies = defaults): Command {
  return {
    summary: 'Ask GitHub to make a webhook delivery again: one by id, or every failed one',
    usage: `Usage: fleetbot redeliver <id> [--json]
       fleetbot redeliver --failed [--since <when>] [--json]

POST /app/hook/deliveries/<id>/attempts as the App: GitHub sends the delivery again, signed, with its GUID.
Exits 1 when GitHub refused any.

  --failed        Every delivery whose latest attempt got no answer or a 4xx/5xx (see fleetbot deliveries --failed)
${SINCE_USAGE}
  --json          Print JSON for scripts`,
    async run(args, context) {
      const { values, positionals } = parseCommandArgs(args, {
        failed: { type: 'boolean' },
        since: { type: 'string' },
        json: { type: 'boolean' },
      });
      if (Boolean(values.failed) === positionals.length > 0) throw new UsageError('give one delivery id, or --failed');
      if (positionals.length > 1) throw new UsageError('one delivery id at a time');
      if (values.since !== undefined && !values.failed) throw new UsageError('--since goes with --failed');
      if (!values.failed && !/^\d+$/.test(positionals[0])) {
        throw new UsageError(`"${positionals[0]}" is not a delivery id (a number: fleetbot deliveries lists them)`);
      }
      const now = (deps.now ?? Date.now)();
      const since = values.since === undefined ? now - DELIVERY_RETENTION_MS : parseSince(values.since, now);
      const deliveries = await api(deps, context);
      const ids = values.failed
        ? needingRecovery(await readSince(deliveries, since, context)).map((delivery) => delivery.id)
        : [Number(positionals[0])];
      const outcome = await redeliverEach(deliveries, ids, context);
      printResult(context, values.json, outcome, renderOutcome);
      return outcome.refused.length === 0 ? EXIT.ok : EXIT.failed;
    },
  };
}

export const deliveriesCommand = createDeliveriesCommand();
export const redeliverCommand = createRedeliverCommand();
