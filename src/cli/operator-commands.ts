import { CI_SYSTEMS, type CiSystem } from '../fleets/spec.js';
import type { FleetOverview, JobView, RunnerView, StatusView } from '../operator/types.js';
import { DEFAULT_JOB_LIMIT, MAX_JOB_LIMIT } from '../operator/view.js';
import { JOB_STATUSES, type JobStatus, type TaskPass } from '../store/types.js';
import { EXIT, parseCommandArgs, UsageError, type CliContext, type Command } from './command.js';
import type { OperatorSource } from './operator-source.js';
import { httpSource } from './operator-source.js';
import { parseLimit, parseSince } from './since.js';
import { formatDuration, formatTable, formatTime, printResult, type Column } from './table.js';

/**
 * `status`, `jobs`, `runners`, `drain` and `undrain`: the operator's read model, from the store (as the
 * app reads it) or, with `--url`, from a running app's JSON API.
 */

export interface OperatorCommandDependencies {
  /** The store named by FLEETBOT_STORE/FLEETBOT_DB, read through the app's read model. */
  openStore(context: CliContext): Promise<OperatorSource>;
  fetch?: typeof fetch;
  now?: () => number;
}

const SOURCE_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const SOURCE_USAGE = `  --url <app>      Ask the running app's JSON API (e.g. https://fleetbot.example.com) instead of the store
  --token <token>  The dashboard token for --url (default: $FLEETBOT_DASHBOARD_TOKEN)
  --json           Print JSON for scripts instead of a table`;

const STORE_USAGE = `Without --url it reads the store the app uses: FLEETBOT_STORE (sqlite:<path> or dynamodb:<table>), else
FLEETBOT_DB, else ./data/fleetbot.db; fleets from FLEETBOT_CONFIG (default ./fleetbot.yml).`;

async function withSource<T>(
  values: { url?: string; token?: string },
  context: CliContext,
  deps: OperatorCommandDependencies,
  use: (source: OperatorSource) => Promise<T>,
): Promise<T> {
  if (values.token !== undefined && values.url === undefined) throw new UsageError('--token goes with --url');
  const source =
    values.url === undefined
      ? await deps.openStore(context)
      : httpSource(checkedUrl(values.url), values.token ?? context.env.FLEETBOT_DASHBOARD_TOKEN, deps.fetch);
  try {
    return await use(source);
  } finally {
    await source.close();
  }
}

function checkedUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.protocol === 'http:' || url.protocol === 'https:') return text;
  } catch {
    // Reported below.
  }
  throw new UsageError(`--url "${text}" is not an http(s) URL`);
}

function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
}

const fleetColumns: Column<FleetOverview>[] = [
  { header: 'FLEET', value: (fleet) => fleet.name },
  { header: 'CI', value: (fleet) => fleet.ci },
  { header: 'COMPUTE', value: (fleet) => fleet.compute },
  { header: 'STATE', value: (fleet) => fleet.state },
  { header: 'ACTIVE', value: (fleet) => `${fleet.active}/${fleet.maxRunners}`, align: 'right' },
  { header: 'WARM', value: (fleet) => String(fleet.warm), align: 'right' },
  { header: 'BACKLOG', value: (fleet) => String(fleet.waiting), align: 'right' },
];

const runnerColumns: Column<RunnerView>[] = [
  { header: 'RUNNER', value: (runner) => runner.name },
  { header: 'FLEET', value: (runner) => runner.fleet },
  { header: 'STATUS', value: (runner) => runner.status + (runner.warm ? ' (warm)' : '') },
  { header: 'AGE', value: (runner) => formatDuration(runner.ageSeconds), align: 'right' },
  { header: 'COMPUTE', value: (runner) => runner.compute },
  { header: 'CAPACITY', value: (runner) => (runner.spot === null ? '-' : runner.spot ? 'spot' : 'on-demand') },
  { header: 'JOB', value: (runner) => runner.jobId },
];

const taskColumns = (now: number): Column<TaskPass>[] => [
  { header: 'TASK', value: (task) => task.task },
  { header: 'LAST PASS', value: (task) => `${formatDuration((now - task.finishedAt) / 1000)} ago` },
  { header: 'TOOK', value: (task) => formatDuration((task.finishedAt - task.startedAt) / 1000), align: 'right' },
  { header: 'HOLDER', value: (task) => task.holder },
  { header: 'OUTCOME', value: (task) => `${task.ok ? 'ok' : 'FAILED'}: ${task.summary}` },
];

const jobColumns: Column<JobView>[] = [
  { header: 'JOB', value: (job) => `${job.ci}:${job.jobId}` },
  { header: 'FLEET', value: (job) => job.fleet ?? '-' },
  { header: 'STATE', value: (job) => job.status },
  { header: 'RECEIVED', value: (job) => formatTime(job.timeline.receivedAt) },
  { header: 'WAIT', value: (job) => formatDuration(job.waitSeconds), align: 'right' },
  { header: 'RUNNER', value: (job) => job.runnerName ?? '-' },
  { header: 'COST', value: (job) => (job.costDollars === null ? '-' : `$${job.costDollars.toFixed(4)}`), align: 'right' },
  { header: 'LABELS', value: (job) => job.labels.join(',') },
];

function renderStatus(status: StatusView): string {
  const sections = [
    formatTable(status.fleets, fleetColumns),
    status.runners.length === 0 ? 'No active runners.' : formatTable(status.runners, runnerColumns),
    status.tasks.length === 0 ? 'No periodic task has run yet.' : formatTable(status.tasks, taskColumns(status.generatedAt)),
  ];
  return sections.join('\n\n');
}

export function createStatusCommand(deps: OperatorCommandDependencies): Command {
  return {
    summary: 'Fleets (capacity, backlog, state), active runners and the last pass of each periodic task',
    usage: `Usage: fleetbot status [--url <app> [--token <token>]] [--json]\n\n${SOURCE_USAGE}\n\n${STORE_USAGE}`,
    async run(args, context) {
      const { values, positionals } = parseCommandArgs(args, SOURCE_OPTIONS);
      noPositionals(positionals);
      const status = await withSource(values, context, deps, (source) => source.status());
      printResult(context, values.json, status, renderStatus);
      return EXIT.ok;
    },
  };
}

function oneOf<T extends string>(option: string, text: string | undefined, allowed: readonly T[]): T | undefined {
  if (text === undefined || (allowed as readonly string[]).includes(text)) return text as T | undefined;
  throw new UsageError(`${option} "${text}" is not one of ${allowed.join(', ')}`);
}

export function createJobsCommand(deps: OperatorCommandDependencies): Command {
  return {
    summary: 'Jobs, newest first, with their state, wait and runner',
    usage: `Usage: fleetbot jobs [--fleet <fleet>] [--state <state>] [--ci <ci>] [--since <when>] [--limit <n>] [--url <app>] [--json]

  --fleet <fleet>  Only this fleet's jobs
  --state <state>  Only jobs in this state: ${JOB_STATUSES.join(', ')}
  --ci <ci>        Only jobs of this CI system: ${CI_SYSTEMS.join(', ')}
  --since <when>   Only jobs received since then: 30m, 2h, 1d, or an ISO time (2026-12-05T06:00:00Z)
  --limit <n>      At most n jobs, 1 to ${MAX_JOB_LIMIT} (default ${DEFAULT_JOB_LIMIT})
${SOURCE_USAGE}

${STORE_USAGE}`,
    async run(args, context) {
      const { values, positionals } = parseCommandArgs(args, {
        ...SOURCE_OPTIONS,
        fleet: { type: 'string' },
        state: { type: 'string' },
        ci: { type: 'string' },
        since: { type: 'string' },
        limit: { type: 'string' },
      });
      noPositionals(positionals);
      const query = {
        fleet: values.fleet,
        status: oneOf<JobStatus>('--state', values.state, JOB_STATUSES),
        ci: oneOf<CiSystem>('--ci', values.ci, CI_SYSTEMS),
        since: values.since === undefined ? undefined : parseSince(values.since, (deps.now ?? Date.now)()),
        limit: parseLimit(values.limit, DEFAULT_JOB_LIMIT, MAX_JOB_LIMIT),
      };
      const jobs = await withSource(values, context, deps, (source) => source.jobs(query));
      printResult(context, values.json, jobs, (rows) => (rows.length === 0 ? 'No jobs match.' : formatTable(rows, jobColumns)));
      return EXIT.ok;
    },
  };
}

export function createRunnersCommand(deps: OperatorCommandDependencies): Command {
  return {
    summary: 'Active runners: age, state, compute, spot or on-demand',
    usage: `Usage: fleetbot runners [--fleet <fleet>] [--url <app> [--token <token>]] [--json]

  --fleet <fleet>  Only this fleet's runners
${SOURCE_USAGE}

${STORE_USAGE}`,
    async run(args, context) {
      const { values, positionals } = parseCommandArgs(args, { ...SOURCE_OPTIONS, fleet: { type: 'string' } });
      noPositionals(positionals);
      const runners = await withSource(values, context, deps, (source) => source.runners(values.fleet));
      printResult(context, values.json, runners, (rows) => (rows.length === 0 ? 'No active runners.' : formatTable(rows, runnerColumns)));
      return EXIT.ok;
    },
  };
}

function createDrainCommand(deps: OperatorCommandDependencies, drained: boolean): Command {
  const verb = drained ? 'drain' : 'undrain';
  const effect = drained
    ? 'A drained fleet takes no new runners: its new jobs wait in its backlog, and its running jobs finish.'
    : 'The fleet takes runners again; its backlog is served by the app at its next reconcile pass (or at once through --url).';
  return {
    summary: drained ? 'Stop a fleet taking new runners; its running jobs finish' : 'Let a drained fleet take runners again',
    usage: `Usage: fleetbot ${verb} <fleet> [--url <app> [--token <token>]] [--json]\n\n${effect}\n\n${SOURCE_USAGE}\n\n${STORE_USAGE}`,
    async run(args, context) {
      const { values, positionals } = parseCommandArgs(args, SOURCE_OPTIONS);
      if (positionals.length !== 1) throw new UsageError(`${verb} takes one fleet name`);
      const fleet = positionals[0];
      const result = await withSource(values, context, deps, (source) => (drained ? source.drain(fleet) : source.undrain(fleet)));
      printResult(context, values.json, result, ({ changed }) =>
        changed
          ? `${fleet}: ${drained ? 'drained' : 'undrained'}`
          : `${fleet}: already ${drained ? 'drained' : 'serving'}; nothing changed`,
      );
      return EXIT.ok;
    },
  };
}

export function createOperatorCommands(deps: OperatorCommandDependencies): Record<string, Command> {
  return {
    status: createStatusCommand(deps),
    jobs: createJobsCommand(deps),
    runners: createRunnersCommand(deps),
    drain: createDrainCommand(deps, true),
    undrain: createDrainCommand(deps, false),
  };
}
