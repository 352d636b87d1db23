import type { FleetSpec } from './spec.js';

/** The fleets the app serves, and which of them takes a job with given labels. */
export class FleetRegistry {
  private readonly byName: Map<string, FleetSpec>;

  constructor(private readonly fleets: readonly FleetSpec[]) {
    this.byName = new Map(fleets.map((fleet) => [fleet.name, fleet]));
  }

  all(): readonly FleetSpec[] {
    return this.fleets;
  }

  get(name: string): FleetSpec | undefined {
    return this.byName.get(name);
  }

  /**
   * GitHub semantics: a runner takes a job when the runner has every label the job asks for (compared
   * case-insensitively). The first fleet in file order wins, so operators order fleets from specific to
   * general. A job without labels matches nothing rather than everything.
   */
  match(jobLabels: readonly string[]): FleetSpec | undefined {
    if (jobLabels.length === 0) return undefined;
    const wanted = jobLabels.map((label) => label.toLowerCase());
    return this.fleets.find((fleet) => {
      const offered = new Set(fleet.labels.map((label) => label.toLowerCase()));
      return wanted.every((label) => offered.has(label));
    });
  }
}
