#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CommandError, EXIT, UsageError, type CliContext, type Command } from './command.js';
import { deliveriesCommand, redeliverCommand } from './deliveries.js';
import { doctorCommand } from './doctor.js';
import { createOperatorCommands } from './operator-commands.js';
import { openStoreSource } from './operator-store.js';
import { createOperatorView } from '../operator/view.js';
import { packageLambdaCommand } from './package-lambda.js';
import { storeInitCommand, storeMigrateCommand } from './store.js';
import { synthCommand } from './synth.js';
import { synthControlPlaneCommand } from './synth-control-plane.js';

/** `fleetbot <command>`: one entry per command. */
export const commands: Record<string, Command> = {
  synth: synthCommand,
  'synth-control-plane': synthControlPlaneCommand,
  'package-lambda': packageLambdaCommand,
  'store:init': storeInitCommand,
  'store:migrate': storeMigrateCommand,
  ...createOperatorCommands({ openStore: (context) => openStoreSource(context, createOperatorView) }),
  deliveries: deliveriesCommand,
  redeliver: redeliverCommand,
  doctor: doctorCommand,
};

function overview(table: Record<string, Command>): string {
  const width = Math.max(...Object.keys(table).map((name) => name.length));
  return [
    'Usage: fleetbot <command> [arguments] [options]',
    '',
    'Commands:',
    ...Object.entries(table).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`),
    '',
    'fleetbot <command> --help describes a command.',
  ].join('\n');
}

/** Options before `--` only: after it, "--help" is an argument. */
function asksForHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/** Runs one command line (argv without node and the script) and returns the exit code. */
export async function main(argv: string[], context: CliContext, table: Record<string, Command> = commands): Promise<number> {
  const index = argv.findIndex((arg) => !arg.startsWith('-'));
  const globalArgs = index === -1 ? argv : argv.slice(0, index);
  let help: boolean | undefined;
  try {
    help = parseArgs({ args: globalArgs, options: { help: { type: 'boolean', short: 'h' } }, strict: true }).values.help;
  } catch (error) {
    context.err(`fleetbot: ${(error as Error).message}\n\n${overview(table)}`);
    return EXIT.usage;
  }
  const name = index === -1 ? undefined : argv[index];
  if (name === undefined) {
    if (help) {
      context.out(overview(table));
      return EXIT.ok;
    }
    context.err(overview(table));
    return EXIT.usage;
  }
  // `fleetbot help [command]` is `fleetbot [command] --help`.
  if (name === 'help') return main([...argv.slice(index + 1, index + 2), '--help'], context, table);
  if (!Object.hasOwn(table, name)) {
    context.err(`fleetbot: unknown command "${name}"\n\n${overview(table)}`);
    return EXIT.usage;
  }
  const command = table[name];
  const args = argv.slice(index + 1);
  if (help || asksForHelp(args)) {
    context.out(command.usage);
    return EXIT.ok;
  }
  try {
    return await command.run(args, context);
  } catch (error) {
    if (error instanceof UsageError) {
      context.err(`fleetbot ${name}: ${error.message}\n\n${command.usage}`);
      return error.exitCode;
    }
    if (error instanceof CommandError) {
      context.err(`fleetbot ${name}: ${error.message}`);
      return error.exitCode;
    }
    context.err(`fleetbot ${name}: ${(error as Error).stack ?? String(error)}`);
    return EXIT.failed;
  }
}

function processContext(): CliContext {
  return {
    env: process.env,
    cwd: process.cwd(),
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  };
}

/** True when node runs this file (directly, or through the npm bin link), not when a test imports it. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** This process's command line, run: what `node dist/src/cli/main.js` and the `fleetbot` bin (fleetbot.js) do. */
export async function runCommandLine(): Promise<void> {
  process.exitCode = await main(process.argv.slice(2), processContext());
}

if (isEntryPoint()) await runCommandLine();
