import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { PlanResult, Terraform } from '../terraform/types.js';

/**
 * One directory per fleet under the Terraform workdir: the fleet's Terraform JSON, its saved plans
 * (one per planned head SHA) and, with the local backend, its state. Only the holder of the fleet's
 * lock works in it, so terraform never runs twice at once in one directory.
 */
export class FleetWorkspace {
  private readonly root: string;

  constructor(
    workdir: string,
    private readonly terraform: Terraform,
  ) {
    this.root = resolve(workdir);
  }

  dir(fleet: string): string {
    return join(this.root, fleet);
  }

  planFile(fleet: string, sha: string): string {
    return join(this.dir(fleet), 'plans', `${sha}.tfplan`);
  }

  /** Writes the configuration, initialises, and saves a plan for `sha`. */
  async plan(
    fleet: string,
    terraformJson: string,
    sha: string,
    destroy: boolean,
  ): Promise<{ planFile: string; result: PlanResult; initMs: number }> {
    const dir = this.dir(fleet);
    await mkdir(join(dir, 'plans'), { recursive: true });
    await writeFile(join(dir, 'cdk.tf.json'), terraformJson);
    const started = Date.now();
    await this.terraform.init(dir);
    const initMs = Date.now() - started;
    await this.discardPlans(fleet);
    const planFile = this.planFile(fleet, sha);
    const result = await this.terraform.plan(dir, planFile, { destroy });
    return { planFile, result, initMs };
  }

  /** Applies the saved plan, never a fresh one, and returns the fleet's outputs. */
  async apply(fleet: string, planFile: string): Promise<Record<string, { value: unknown }>> {
    const dir = this.dir(fleet);
    await this.terraform.apply(dir, planFile);
    return this.terraform.output(dir);
  }

  async discardPlans(fleet: string): Promise<void> {
    const plans = join(this.dir(fleet), 'plans');
    const files = await readdir(plans).catch(() => [] as string[]);
    await Promise.all(files.map((file) => rm(join(plans, file), { force: true })));
  }
}
