import type { FleetRequestRecord, ProvisionedFleet } from '../../src/store/types.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeOnEveryStore } from '../helpers/store-backends.js';

const REPO = 'acme/runner-fleets';

function request(overrides: Partial<FleetRequestRecord> = {}): FleetRequestRecord {
  return <FleetRequestRecord>{
    repo: REPO,
    issueNumber: 7,
    kind: 'create',
    installationId: 1,
    author: 'octocat',
    fleet: 'linux-small',
    status: 'planning',
    detail: null,
    spec: ecsFleet({ name: 'linux-small' }),
    prNumber: 8,
    branch: 'fleetbot/fleet-linux-small',
    plannedSha: null,
    planFile: null,
    plannedAt: null,
    planSummary: null,
    appliedSha: null,
    createdAt: 1,
    updatedAt: 1,
    ...overrides,
  };
}

function provisioned(name: string, overrides: Partial<ProvisionedFleet> = {}): ProvisionedFleet {
  return {
    name,
    requested: ecsFleet({ name }),
    live: ecsFleet({ name, labels: ['self-hosted', name] }),
    status: 'live',
    appliedSha: 'a',
    requestIssue: 1,
    updatedAt: 1,
    ...overrides,
  };
}

describeOnEveryStore('IssueOps state and delivery GUIDs (store contract)', (store) => {
  it('saves a request and finds it by issue and by pull request, as last saved', async () => {
    const { issueOps } = store();
    await issueOps.saveRequest(request());
    await issueOps.saveRequest(
      request({ status: 'planned', plannedSha: 'abc', planFile: '/plans/abc.tfplan', plannedAt: 5, updatedAt: 5 }),
    );
    expect(await issueOps.getRequest(REPO, 7)).toEqual(
      request({ status: 'planned', plannedSha: 'abc', planFile: '/plans/abc.tfplan', plannedAt: 5, updatedAt: 5 }),
    );
    expect((await issueOps.getRequestByPull(REPO, 8))?.issueNumber).toBe(7);
    expect(await issueOps.getRequestByPull(REPO, 9)).toBeUndefined();
    expect(await issueOps.getRequest(REPO, 8)).toBeUndefined();
  });

  it('keeps an invalid request with what it lacks, and refuses a record that breaks its status', async () => {
    const { issueOps } = store();
    const invalid = request({ status: 'invalid', fleet: null, prNumber: null, branch: null, spec: null, detail: 'no name' });
    await issueOps.saveRequest(invalid);
    expect(await issueOps.getRequest(REPO, 7)).toEqual(invalid);
    await issueOps.saveRequest(request({ kind: 'delete', spec: null }));
    expect(await issueOps.getRequest(REPO, 7)).toMatchObject({ kind: 'delete', spec: null, fleet: 'linux-small' });
    await issueOps.saveRequest(request({ status: 'planned' }));
    await expect(issueOps.getRequest(REPO, 7)).rejects.toThrow(/is planned without its saved plan/);
  });

  it('lists the requests planning or applying, oldest change first, and no others', async () => {
    const { issueOps } = store();
    await issueOps.saveRequest(request({ issueNumber: 3, prNumber: 4, status: 'planning', updatedAt: 20 }));
    await issueOps.saveRequest(
      request({ issueNumber: 1, prNumber: 2, status: 'applying', plannedSha: 'abc', planFile: '/p', plannedAt: 5, updatedAt: 10 }),
    );
    await issueOps.saveRequest(request({ issueNumber: 5, prNumber: 6, status: 'planning', updatedAt: 5 }));
    await issueOps.saveRequest(request({ issueNumber: 5, prNumber: 6, status: 'plan_failed', updatedAt: 30 }));
    expect((await issueOps.unfinishedRequests()).map((entry) => entry.issueNumber)).toEqual([1, 3]);
  });

  it('gives a fleet lock to one request at a time, even to concurrent claims, and only its holder releases it', async () => {
    const { issueOps } = store();
    const claims = await Promise.all([1, 2, 3, 4, 5].map((issue) => issueOps.acquireFleetLock('gpu', REPO, issue, 10 + issue)));
    const holder = claims[0].issueNumber;
    expect(claims.every((lock) => lock.issueNumber === holder && lock.fleet === 'gpu')).toBe(true);
    expect(await issueOps.acquireFleetLock('cpu', REPO, 9, 30)).toEqual({ fleet: 'cpu', repo: REPO, issueNumber: 9, acquiredAt: 30 });
    const other = holder === 1 ? 2 : 1;
    await issueOps.releaseFleetLock('gpu', REPO, other);
    expect((await issueOps.fleetLocks()).map((lock) => lock.fleet)).toEqual(['gpu', 'cpu']);
    await issueOps.releaseFleetLock('gpu', REPO, holder);
    expect(await issueOps.acquireFleetLock('gpu', REPO, other, 40)).toMatchObject({ issueNumber: other, acquiredAt: 40 });
  });

  it('keeps applied fleets in the order first applied, across a re-apply, until deleted', async () => {
    const { issueOps } = store();
    await issueOps.putProvisionedFleet(provisioned('b', { updatedAt: 1 }));
    await issueOps.putProvisionedFleet(provisioned('a', { updatedAt: 2 }));
    await issueOps.putProvisionedFleet(provisioned('b', { status: 'draining', updatedAt: 3 }));
    expect(await issueOps.provisionedFleets()).toEqual([
      provisioned('b', { status: 'draining', updatedAt: 3 }),
      provisioned('a', { updatedAt: 2 }),
    ]);
    await issueOps.deleteProvisionedFleet('b');
    expect((await issueOps.provisionedFleets()).map((entry) => entry.name)).toEqual(['a']);
  });

  it('records who changed a request, once each whatever the case, in the order first seen', async () => {
    const { issueOps } = store();
    await issueOps.addRequestChanger(REPO, 7, 'Mallory', 5);
    await issueOps.addRequestChanger(REPO, 7, 'erin', 6);
    await issueOps.addRequestChanger(REPO, 7, 'mallory', 7);
    await issueOps.addRequestChanger(REPO, 9, 'trent', 8);
    expect(await issueOps.requestChangers(REPO, 7)).toEqual(['Mallory', 'erin']);
    expect(await issueOps.requestChangers(REPO, 9)).toEqual(['trent']);
    expect(await issueOps.requestChangers('acme/other', 7)).toEqual([]);
  });

  it('keeps the recovery watermark and recovered GUIDs', async () => {
    const { deliveries } = store();
    expect(await deliveries.recoveryWatermark()).toBeUndefined();
    await deliveries.setRecoveryWatermark(1_000);
    await deliveries.setRecoveryWatermark(2_000);
    expect(await deliveries.recoveryWatermark()).toBe(2_000);
    await deliveries.markRecovered('guid-a', 5);
    await deliveries.markRecovered('guid-a', 6);
    expect(await deliveries.wasRecovered('guid-a')).toBe(true);
    expect(await deliveries.wasRecovered('guid-b')).toBe(false);
  });

  it('lets one claim of a delivery handle it, even among concurrent claims, until the claim is given back', async () => {
    const { deliveries } = store();
    await deliveries.markRecovered('guid-a', 5);
    const claims = await Promise.all(Array.from({ length: 10 }, (_, index) => deliveries.claimHandling('guid-a', 6 + index)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    await deliveries.releaseHandling('guid-a');
    expect(await deliveries.claimHandling('guid-a', 20)).toBe(true);
    expect(await deliveries.wasRecovered('guid-a')).toBe(true);
  });

  it('forgets GUIDs recorded before the cut-off, and keeps the later ones', async () => {
    const { deliveries } = store();
    await deliveries.markRecovered('old', 10);
    await deliveries.claimHandling('old', 11);
    await deliveries.markRecovered('new', 20);
    await deliveries.claimHandling('new', 21);
    await deliveries.pruneBefore(15);
    expect(await deliveries.wasRecovered('old')).toBe(false);
    expect(await deliveries.claimHandling('old', 30)).toBe(true);
    expect(await deliveries.wasRecovered('new')).toBe(true);
    expect(await deliveries.claimHandling('new', 30)).toBe(false);
  });
});

describeOnEveryStore('IssueOps requests for the operator (store contract)', (store) => {
  it('lists the requests updated last, newest first, finished or not, at most as many as asked', async () => {
    const { issueOps } = store();
    expect(await issueOps.recentRequests(10)).toEqual([]);
    await issueOps.saveRequest(request({ issueNumber: 1, status: 'planning', updatedAt: 10 }));
    await issueOps.saveRequest(request({ issueNumber: 2, fleet: 'b', prNumber: 9, status: 'closed', updatedAt: 30 }));
    await issueOps.saveRequest(request({ issueNumber: 3, fleet: 'c', prNumber: 10, status: 'planning', updatedAt: 20 }));
    // Saved again: it moves up, and is listed once.
    await issueOps.saveRequest(request({ issueNumber: 1, status: 'plan_failed', updatedAt: 40 }));

    const recent = await issueOps.recentRequests(10);
    expect(recent.map((listed) => [listed.issueNumber, listed.status])).toEqual([
      [1, 'plan_failed'],
      [2, 'closed'],
      [3, 'planning'],
    ]);
    expect((await issueOps.recentRequests(2)).map((listed) => listed.issueNumber)).toEqual([1, 2]);
    expect(await issueOps.recentRequests(0)).toEqual([]);
  });
});
