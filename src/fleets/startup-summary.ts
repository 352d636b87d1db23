import { CI_SYSTEMS, type CiSystem, type FleetSpec } from './spec.js';

export interface StartupFields {
  fleets: { name: string; ci: CiSystem; compute: FleetSpec['compute']['type']; maxRunners: number }[];
  /** GitHub's always (the App's webhooks), and every other CI system a fleet serves. */
  ciSources: CiSystem[];
  /** The IssueOps repository, or `off`. */
  issueOps: string;
}

/**
 * The one line logged at start: what the app serves, as fields and as a sentence, so that both a
 * JSON reader and a person reading the pretty format see it. Use: `log.info(...startupSummary(...))`.
 */
export function startupSummary(fleets: readonly FleetSpec[], issueOpsRepository: string | undefined): [StartupFields, string] {
  const fields: StartupFields = {
    fleets: fleets.map((fleet) => ({ name: fleet.name, ci: fleet.ci, compute: fleet.compute.type, maxRunners: fleet.maxRunners })),
    ciSources: CI_SYSTEMS.filter((ci) => ci === 'github' || fleets.some((fleet) => fleet.ci === ci)),
    issueOps: issueOpsRepository ?? 'off',
  };
  const served =
    fields.fleets.length === 0
      ? 'no fleets (every job is unmatched)'
      : `${fields.fleets.length} fleet${fields.fleets.length === 1 ? '' : 's'}: ${fields.fleets
          .map((fleet) => `${fleet.name} (${fleet.ci}, ${fleet.compute}, max ${fleet.maxRunners})`)
          .join(', ')}`;
  return [fields, `fleetbot started with ${served}; CI sources: ${fields.ciSources.join(', ')}; IssueOps: ${fields.issueOps}`];
}
