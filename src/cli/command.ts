import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * One `fleetbot` subcommand. main.ts keeps them in a table by name: a new command is one new entry.
 */
export interface Command {
  /** One line for `fleetbot --help`. */
  summary: string;
  /** `fleetbot <command> --help`: the synopsis, the arguments and options, with their defaults. */
  usage: string;
  /** Returns the exit code; throws CommandError for a failure the user can act on. */
  run(args: string[], context: CliContext): Promise<number>;
}

/** What a command may touch, passed in so tests run commands in-process without spawning. */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  /** Relative paths (the fleets file, --out) resolve against this. */
  cwd: string;
  /** Writes a line (or lines) to standard output; results go here. */
  out(text: string): void;
  /** Writes to standard error; diagnostics go here. */
  err(text: string): void;
}

/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** It could not be done: an unusable fleets file, a fleet synth cannot build, a missing package, I/O. */
  failed: 1,
  /** The invocation was wrong: an unknown command, option or fleet, a missing or invalid input. */
  usage: 2,
  /** `fleetbot doctor`: it ran, and at least one check failed (each with its fix). */
  unhealthy: 3,
} as const;

/** A failure to report as its message alone (no stack trace), with its exit code. */
export class CommandError extends Error {
  override name = 'CommandError';

  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

/** A wrong invocation: main.ts prints the message, then the command's usage, and exits 2. */
export class UsageError extends CommandError {
  override name = 'UsageError';

  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** node:util parseArgs, strict, with its complaints (unknown option, missing value) turned into UsageErrors. */
export function parseCommandArgs<const Options extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: Options) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((error as Error).message);
    throw error;
  }
}
