import { FleetRegistry } from '../../../src/fleets/registry.js';
import { readGauges } from '../../../src/metrics/gauges.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { FleetRequestRecord, RequestStatus } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';

/** An invalid request as IssueOps saves it; only its status matters to the gauge, which reads it back. */
const request = (issueNumber: number, updatedAt: number): FleetRequestRecord => ({
  ...{ repo: 'acme/fleets', issueNumber, kind: 'create', installationId: 1, author: 'octocat', fleet: null, status: 'invalid' },
  ...{ detail: 'labels: required', spec: null, prNumber: null, branch: null, plannedSha: null, planFile: null, plannedAt: null },
  ...{ planSummary: null, appliedSha: null, createdAt: 1, updatedAt },
});

describe('the gauges read at scrape time', () => {
  it('count IssueOps requests by status, every status present, from the store as it is now', async () => {
    const store = new SqliteStore(':memory:');
    const fleets = new FleetRegistry([ecsFleet({ name: 'linux-small', maxRunners: 3 })]);
    await store.issueOps.saveRequest(request(1, 10));
    await store.issueOps.saveRequest(request(2, 20));
    await store.issueOps.saveRequest({
      ...request(3, 30),
      status: 'closed',
      kind: 'delete',
      fleet: 'gpu',
      prNumber: 4,
      branch: 'fleet/gpu',
    } as FleetRequestRecord);

    const { requests, maxRunners, backlog } = await readGauges({ store, fleets, issueOps: store.issueOps });

    const expected = new Map<RequestStatus, number>([
      ['invalid', 2],
      ['planning', 0],
      ['planned', 0],
      ['plan_failed', 0],
      ['applying', 0],
      ['applied', 0],
      ['apply_failed', 0],
      ['closed', 1],
    ]);
    expect(requests).toEqual(expected);
    expect(maxRunners).toEqual(new Map([['linux-small', 3]]));
    expect(backlog).toEqual(new Map([['linux-small', 0]]));
    await store.close();
  });

  it('have no IssueOps series without IssueOps', async () => {
    const store = new SqliteStore(':memory:');
    const { requests } = await readGauges({ store, fleets: new FleetRegistry([]) });
    expect(requests.size).toBe(0);
    await store.close();
  });
});
