/**
 * The terraform seam: what IssueOps asks of Terraform (or OpenTofu). One implementation today, the CLI as a
 * child process (cli.ts); a fake in tests, or a remote runner later, provides the same.
 */

export interface PlanResult {
  /** terraform's own human-readable plan (stdout of plan, no colour), secrets redacted */
  text: string;
  /** 'Plan: N to add, M to change, K to destroy.' or 'No changes. …' — from `terraform show -json` resource_changes */
  summary: string;
  add: number;
  change: number;
  destroy: number;
  durationsMs: { plan: number; show: number };
}

/** `terraform output -json`, parsed. */
export type TerraformOutputs = Record<string, { value: unknown; type: unknown; sensitive: boolean }>;

/** Every method works in `dir`, a directory with the configuration; one command at a time per directory is the caller's business. */
export interface Terraform {
  /** Initialises `dir`: the backend and the providers. */
  init(dir: string): Promise<void>;
  /** Saves a plan to `planFile` (relative to `dir`, or absolute) and counts its changes; `destroy` plans the removal of everything. */
  plan(dir: string, planFile: string, options?: { destroy?: boolean }): Promise<PlanResult>;
  /** Applies exactly the saved plan (Terraform refuses one that is stale); returns what apply printed, secrets redacted. */
  apply(dir: string, planFile: string): Promise<string>;
  output(dir: string): Promise<TerraformOutputs>;
}

/** A terraform command that failed, timed out or could not start. Its message names the command and the first `Error:`. */
export class TerraformError extends Error {
  override name = 'TerraformError';

  constructor(
    readonly command: string,
    /** null when the process could not run at all */
    readonly exitCode: number | null,
    /** the last ~60 lines of stderr+stdout, secrets redacted */
    readonly tail: string,
    readonly timedOut: boolean,
  ) {
    super(TerraformError.describe(command, exitCode, tail, timedOut));
  }

  private static describe(command: string, exitCode: number | null, tail: string, timedOut: boolean): string {
    const outcome = timedOut ? 'timed out' : exitCode === null ? 'could not run' : `failed with exit code ${exitCode}`;
    // Terraform's diagnostics start with "Error: <summary>"; the first one is usually the cause.
    const firstError = /^[│\s]*(Error: .+)$/m.exec(tail)?.[1];
    return `${command} ${outcome}${firstError ? `: ${firstError.trim()}` : ''}`;
  }
}
