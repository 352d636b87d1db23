import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { redactSecrets } from './redact.js';
import { TerraformError, type PlanResult, type Terraform, type TerraformOutputs } from './types.js';

/**
 * Terraform (or OpenTofu) as a child process: init, plan to a saved file, apply exactly that file,
 * read outputs. Never through a shell; one command at a time per directory is the caller's business.
 */

export interface TerraformCliOptions {
  binary: string;
  pluginMirror: string | null;
  timeoutMs: number;
  /** where the CLI config file and a shared plugin cache live */
  stateDir: string;
  /** The whole environment terraform runs with (the wiring passes the app's own: AWS credentials, proxy, PATH). */
  env: NodeJS.ProcessEnv;
  /** Values taken out of terraform's output and error tails before anyone sees them (config.ts's `secretValues`). */
  secrets: readonly string[];
}

interface RunResult {
  command: string;
  stdout: string;
  durationMs: number;
}

const TAIL_LINES = 60;
// Interrupted, terraform stops gracefully and saves state; it gets this long before the group is killed.
const INTERRUPT_GRACE_MS = 15_000;

type ResourceAction = 'no-op' | 'create' | 'read' | 'update' | 'delete' | 'forget';
interface ShowJson {
  resource_changes?: { mode?: string; change?: { actions?: ResourceAction[] } }[];
}

/** Counts as Terraform's own summary line does: a replacement is one add and one destroy. */
function summarizePlan(show: ShowJson): Pick<PlanResult, 'summary' | 'add' | 'change' | 'destroy'> {
  let add = 0;
  let change = 0;
  let destroy = 0;
  for (const resource of show.resource_changes ?? []) {
    if (resource.mode === 'data') continue;
    const actions = resource.change?.actions ?? [];
    if (actions.includes('create')) add++;
    if (actions.includes('delete')) destroy++;
    if (actions.includes('update')) change++;
  }
  const summary =
    add + change + destroy === 0
      ? 'No changes. Your infrastructure matches the configuration.'
      : `Plan: ${add} to add, ${change} to change, ${destroy} to destroy.`;
  return { summary, add, change, destroy };
}

export class TerraformCli implements Terraform {
  private configFile: Promise<string> | undefined;
  // The plugin cache is not safe for concurrent installs, and only `init` installs: one at a time.
  private initQueue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: TerraformCliOptions) {}

  /**
   * -input=false; installs providers from `pluginMirror` when set, linking them from a shared cache.
   * Inits of one TerraformCli run one after another (each takes about a second once the cache is warm).
   */
  async init(dir: string): Promise<void> {
    const run = this.initQueue.then(() => this.run(dir, ['init', '-input=false', '-no-color']));
    this.initQueue = run.catch(() => undefined);
    await run;
  }

  /** Saves a plan to `planFile` (relative to `dir`, or absolute), then reads it back as JSON to count changes. */
  async plan(dir: string, planFile: string, options: { destroy?: boolean } = {}): Promise<PlanResult> {
    const planArgs = ['plan', '-input=false', '-no-color', `-out=${planFile}`];
    if (options.destroy) planArgs.push('-destroy');
    const plan = await this.run(dir, planArgs);
    const show = await this.run(dir, ['show', '-json', '-no-color', planFile]);
    return {
      text: this.redact(plan.stdout),
      ...summarizePlan(this.parseJson<ShowJson>(show)),
      durationsMs: { plan: plan.durationMs, show: show.durationMs },
    };
  }

  /** Applies exactly the saved plan: Terraform refuses one that is stale. Returns apply's stdout. */
  async apply(dir: string, planFile: string): Promise<string> {
    const result = await this.run(dir, ['apply', '-input=false', '-no-color', planFile]);
    return this.redact(result.stdout);
  }

  async output(dir: string): Promise<TerraformOutputs> {
    const result = await this.run(dir, ['output', '-json', '-no-color']);
    return this.parseJson<TerraformOutputs>(result);
  }

  private parseJson<T>(result: RunResult): T {
    try {
      return JSON.parse(result.stdout) as T;
    } catch (error) {
      const tail = this.redact(result.stdout.split('\n').slice(-TAIL_LINES).join('\n'));
      throw new TerraformError(`${result.command} (output is not JSON: ${(error as Error).message})`, 0, tail, false);
    }
  }

  /**
   * A CLI configuration of our own: the operator's ~/.terraformrc is not ours to rely on. Providers come
   * from the mirror when one is configured; the plugin cache lets every fleet directory link the
   * (700 MB) AWS provider instead of copying it.
   */
  private cliConfig(): Promise<string> {
    this.configFile ??= (async () => {
      const stateDir = resolve(this.options.stateDir);
      const cacheDir = join(stateDir, 'plugin-cache');
      await mkdir(cacheDir, { recursive: true });
      const lines = [
        `plugin_cache_dir = ${JSON.stringify(cacheDir)}`,
        // Without this, Terraform ≥ 1.4 bypasses the cache for a directory whose lock file lacks the
        // provider's checksums — every new fleet directory.
        'plugin_cache_may_break_dependency_lock_file = true',
        'disable_checkpoint = true',
      ];
      if (this.options.pluginMirror !== null) {
        // The mirror only, no registry fallback: a mirror is for machines that cannot reach the registry.
        lines.push(
          'provider_installation {',
          '  filesystem_mirror {',
          `    path = ${JSON.stringify(resolve(this.options.pluginMirror))}`,
          '  }',
          '}',
        );
      }
      const file = join(stateDir, 'terraform.rc');
      await writeFile(file, `${lines.join('\n')}\n`);
      return file;
    })();
    const pending = this.configFile;
    // A failed write is not remembered: the next command tries again.
    pending.catch(() => {
      if (this.configFile === pending) this.configFile = undefined;
    });
    return pending;
  }

  private async run(dir: string, args: string[]): Promise<RunResult> {
    const command = `${this.options.binary} ${args.join(' ')}`;
    const env: NodeJS.ProcessEnv = {
      ...this.options.env,
      TF_CLI_CONFIG_FILE: await this.cliConfig(),
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
    };
    const started = Date.now();
    const exit = await runProcessGroup(this.options.binary, args, { cwd: dir, env, timeoutMs: this.options.timeoutMs });
    if (exit.spawnError) throw new TerraformError(command, null, this.redact(exit.spawnError.message), false);
    if (exit.code !== 0 || exit.timedOut) throw new TerraformError(command, exit.code, this.redact(exit.tail), exit.timedOut);
    return { command, stdout: exit.stdout, durationMs: Date.now() - started };
  }

  private redact(text: string): string {
    return redactSecrets(text, this.options.secrets);
  }
}

interface ProcessExit {
  code: number | null;
  stdout: string;
  /** the last TAIL_LINES lines of stdout and stderr */
  tail: string;
  timedOut: boolean;
  /** set when the process could not be started at all */
  spawnError?: Error;
}

/**
 * Runs `binary` in its own process group, so that a timeout reaches the provider plugins too. On timeout,
 * SIGINT as Ctrl-C would: terraform stops gracefully (saving state) while its plugins ignore it; the group
 * is killed after a grace period, or at once when terraform exits first.
 */
function runProcessGroup(
  binary: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<ProcessExit> {
  return new Promise<ProcessExit>((settled) => {
    const child = spawn(binary, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = new OutputTail(TAIL_LINES);
    let stdout = '';
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      tail.add('stdout', chunk);
    });
    child.stderr.on('data', (chunk: string) => tail.add('stderr', chunk));
    const timeout = setTimeout(() => {
      timedOut = true;
      signalGroup(child.pid, 'SIGINT');
      killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), INTERRUPT_GRACE_MS);
    }, options.timeoutMs);
    const finish = (exit: ProcessExit) => {
      clearTimeout(timeout);
      clearTimeout(killTimer);
      settled(exit);
    };
    child.once('error', (error) => finish({ code: null, stdout, tail: tail.text(), timedOut: false, spawnError: error }));
    child.once('close', (code) => {
      // Whatever an interrupted terraform left behind goes with it.
      if (timedOut) signalGroup(child.pid, 'SIGKILL');
      finish({ code, stdout, tail: tail.text(), timedOut });
    });
  });
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  try {
    if (pid !== undefined) process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** The last lines of a process's stdout and stderr, interleaved as they arrived. */
class OutputTail {
  private readonly lines: string[] = [];
  private readonly partial = { stdout: '', stderr: '' };

  constructor(private readonly limit: number) {}

  add(stream: 'stdout' | 'stderr', chunk: string): void {
    const parts = (this.partial[stream] + chunk).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    this.lines.push(...parts);
    if (this.lines.length > this.limit) this.lines.splice(0, this.lines.length - this.limit);
  }

  text(): string {
    const unfinished = [this.partial.stdout, this.partial.stderr].filter((line) => line.length > 0);
    return [...this.lines, ...unfinished].slice(-this.limit).join('\n').trim();
  }
}
