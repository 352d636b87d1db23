import { FLEETS_REPO, fargateRequest } from '../../helpers/issueops.js';
import { ecsFleet } from '../../helpers/fleets.js';
import { inMemoryIssueOps, issuesPayload, type InMemoryIssueOps } from '../../helpers/issueops-in-memory.js';
import { SqliteStore } from '../../../src/store/sqlite.js';

describe('IssueOps after a restart', () => {
  let store: SqliteStore;
  let first: InMemoryIssueOps;

  beforeEach(async () => {
    store = new SqliteStore(':memory:');
    first = await inMemoryIssueOps({ store });
  });
  afterEach(() => store.close());

  /** The same store and GitHub, as a restarted app finds them. */
  const restart = (fileFleets = [] as ReturnType<typeof ecsFleet>[]) => inMemoryIssueOps({ store, github: first.github, fileFleets });

  async function plannedRequest(name: string) {
    const issue = first.github.issueNumber();
    first.issueOps.onIssue(issuesPayload(issue, fargateRequest(name, 'subnet-0123abcd'), ['fleet-request']));
    await first.issueOps.idle();
    const request = await store.issueOps.getRequest(FLEETS_REPO, issue);
    if (request?.status !== 'planned') throw new Error(`request #${issue} is ${request?.status}, not planned`);
    return request;
  }

  it('serves the fleets it applied, a draining one still draining, and lets the fleets file win a name', async () => {
    for (const name of ['applied', 'leaving', 'in-the-file']) {
      const fleet = ecsFleet({ name, labels: ['self-hosted', name] });
      await store.issueOps.putProvisionedFleet({
        name,
        requested: fleet,
        live: fleet,
        status: name === 'leaving' ? 'draining' : 'live',
        appliedSha: 'a'.repeat(40),
        requestIssue: 1,
        updatedAt: 1,
      });
    }
    const fromFile = ecsFleet({ name: 'in-the-file', labels: ['self-hosted', 'file'] });
    const app = await restart([fromFile]);
    await app.issueOps.load();
    expect(app.fleets.isProvisioned('applied')).toBe(true);
    expect(app.fleets.isDraining('leaving')).toBe(true);
    expect(app.fleets.get('in-the-file')).toEqual(fromFile);
  });

  it('plans again a request that a restart interrupted while it planned', async () => {
    const request = await plannedRequest('half-planned');
    await store.issueOps.saveRequest({ ...request, status: 'planning' });
    const app = await restart();
    await app.issueOps.load();
    await app.issueOps.idle();
    expect(app.terraform).toEqual([`plan half-planned ${request.plannedSha}`]);
    expect((await store.issueOps.getRequest(FLEETS_REPO, request.issueNumber))?.status).toBe('planned');
  });

  it('reports an apply that a restart interrupted on the pull request, and plans its head again', async () => {
    const request = await plannedRequest('half-applied');
    await store.issueOps.saveRequest({ ...request, status: 'applying' });
    const app = await restart();
    await app.issueOps.load();
    await app.issueOps.idle();
    const comments = first.github.commentsOn(request.prNumber);
    expect(comments.find((body) => body.includes('restarted during the apply'))).toMatch(
      /nothing was merged; Terraform's state says what was done\. A new plan of the head follows: review it and approve again/,
    );
    // The lock is released, then taken again by the new plan of the head.
    expect(app.terraform).toEqual(['discard half-applied', `plan half-applied ${request.plannedSha}`]);
    expect(await store.issueOps.getRequest(FLEETS_REPO, request.issueNumber)).toMatchObject({
      status: 'planned',
      plannedSha: request.plannedSha,
    });
    expect((await store.issueOps.fleetLocks()).map((lock) => lock.issueNumber)).toEqual([request.issueNumber]);
  });

  it('waits for an apply another replica is still working, and leaves it alone once it finished', async () => {
    const request = await plannedRequest('applied-elsewhere');
    const applying = { ...request, status: 'applying' as const };
    await store.issueOps.saveRequest(applying);
    await store.issueOps.lockRequest(FLEETS_REPO, request.issueNumber, 'other-replica', 60_000, Date.now());
    const app = await restart();
    await app.issueOps.load();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The other replica's apply ends: merged and applied, its lock given back.
    await store.issueOps.saveRequest({ ...applying, status: 'applied', appliedSha: request.plannedSha });
    await store.issueOps.unlockRequest(FLEETS_REPO, request.issueNumber, 'other-replica');
    await app.issueOps.idle();
    expect(first.github.commentsOn(request.prNumber).filter((body) => body.includes('restarted during the apply'))).toEqual([]);
    expect(app.terraform).toEqual([]);
    expect((await store.issueOps.getRequest(FLEETS_REPO, request.issueNumber))?.status).toBe('applied');
  });
});
