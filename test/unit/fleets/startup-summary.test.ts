import { startupSummary } from '../../../src/fleets/startup-summary.js';
import { circleciFleet, ecsFleet } from '../../helpers/fleets.js';

describe('the start line', () => {
  it('lists each fleet with its CI system, compute type and cap, the CI sources and the IssueOps repository', () => {
    const fleets = [ecsFleet({ name: 'linux-small', maxRunners: 5 }), circleciFleet('cci', 'acme/linux', { maxRunners: 3 })];
    const [fields, message] = startupSummary(fleets, 'acme/fleet-requests');
    expect(fields).toEqual({
      fleets: [
        { name: 'linux-small', ci: 'github', compute: 'ecs', maxRunners: 5 },
        { name: 'cci', ci: 'circleci', compute: 'ecs', maxRunners: 3 },
      ],
      ciSources: ['github', 'circleci'],
      issueOps: 'acme/fleet-requests',
    });
    expect(message).toBe(
      'fleetbot started with 2 fleets: linux-small (github, ecs, max 5), cci (circleci, ecs, max 3); CI sources: github, circleci; IssueOps: acme/fleet-requests',
    );
  });

  it('says when there are no fleets and IssueOps is off', () => {
    const [fields, message] = startupSummary([], undefined);
    expect(fields).toEqual({ fleets: [], ciSources: ['github'], issueOps: 'off' });
    expect(message).toBe('fleetbot started with no fleets (every job is unmatched); CI sources: github; IssueOps: off');
  });
});
