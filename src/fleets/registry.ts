import type { FleetSpec } from './spec.js';

/**
 * The fleets the app serves, and which of them takes a job with given labels: the fleets file's,
 * then those applied by IssueOps (in the order they were applied), which come and go while the app runs.
 */
export class FleetRegistry {
  private readonly fromFile: Map<string, FleetSpec>;
  private readonly provisioned = new Map<string, FleetSpec>();
  private readonly draining = new Set<string>();
  private readonly listeners = new Set<() => void>();

  constructor(fileFleets: readonly FleetSpec[]) {
    this.fromFile = new Map(fileFleets.map((fleet) => [fleet.name, fleet]));
  }

  /** Every fleet, draining ones included: their runners still need watching and cleaning up. */
  all(): FleetSpec[] {
    return [...this.fromFile.values(), ...this.provisioned.values()];
  }

  get(name: string): FleetSpec | undefined {
    return this.fromFile.get(name) ?? this.provisioned.get(name);
  }

  isFromFile(name: string): boolean {
    return this.fromFile.has(name);
  }

  isProvisioned(name: string): boolean {
    return this.provisioned.has(name);
  }

  /** A fleet IssueOps applied: it serves jobs from now on. A re-applied fleet keeps its place. */
  putProvisioned(fleet: FleetSpec): void {
    if (this.fromFile.has(fleet.name)) throw new Error(`fleet ${fleet.name} is defined in the fleets file`);
    const added = !this.provisioned.has(fleet.name);
    this.provisioned.set(fleet.name, fleet);
    if (added) this.changed();
  }

  removeProvisioned(name: string): void {
    const removed = this.provisioned.delete(name);
    this.draining.delete(name);
    if (removed) this.changed();
  }

  /**
   * Calls `listener` each time a fleet is added or removed (a re-applied fleet changes no names), so that
   * what belongs to fleets no longer served is cleaned up at once. Returns what stops the calls.
   */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** A draining fleet takes no new jobs and launches nothing more; its busy runners finish. */
  drain(name: string): void {
    this.draining.add(name);
  }

  /** A drain called off (its destroy failed or was abandoned): the fleet takes jobs again. */
  undrain(name: string): void {
    this.draining.delete(name);
  }

  isDraining(name: string): boolean {
    return this.draining.has(name);
  }

  /**
   * Among the fleets of the job's CI system, GitHub semantics (GitLab's tags work the same way; a
   * CircleCI fleet's only label is its resource class): a runner takes a job when the runner has every
   * label the job asks for (compared case-insensitively).
   * The first fleet wins, so operators order fleets from specific to general. A job without labels
   * matches nothing rather than everything.
   */
  match(ci: string, jobLabels: readonly string[]): FleetSpec | undefined {
    if (jobLabels.length === 0) return undefined;
    const wanted = jobLabels.map((label) => label.toLowerCase());
    return this.all().find((fleet) => {
      if (fleet.ci !== ci || this.draining.has(fleet.name)) return false;
      // A CircleCI task asks for exactly one resource class, so that is what a CircleCI fleet offers.
      const offered = new Set((fleet.circleci ? [fleet.circleci.resourceClass] : fleet.labels).map((label) => label.toLowerCase()));
      return wanted.every((label) => offered.has(label));
    });
  }
}
