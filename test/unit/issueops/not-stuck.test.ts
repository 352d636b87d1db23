import { TerraformError } from '../../../src/terraform/types.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { FLEETS_REPO, deleteRequest } from '../../helpers/issueops.js';
import { ECS_OUTPUTS, inMemoryIssueOps, pullRequestPayload, type InMemoryIssueOps } from '../../helpers/issueops-in-memory.js';

/** No request is ever stuck: every apply ends applied or failed, and a destroy that does not happen undrains its fleet. */
describe('IssueOps: no request is stuck', () => {
  let env: InMemoryIssueOps;
  /** What the next `terraform apply` throws, if anything. */
  let applyThrows: Error | undefined;
  let store: SqliteStore;

  /** The workspace's calls, as the helper's: `plan <fleet> <sha>[ destroy]`, `apply <fleet>`, `discard <fleet>`. */
  let terraform: string[];

  /** IssueOps on the same store and GitHub (a restart, when called again), whose apply throws `applyThrows`. */
  function start(): Promise<InMemoryIssueOps> {
    return inMemoryIssueOps({
      store,
      github: env?.github,
      deps: {
        workspace: {
          plan: async (fleet, _json, sha, destroy) => {
            terraform.push(`plan ${fleet} ${sha}${destroy ? ' destroy' : ''}`);
            const summary = destroy ? 'Plan: 0 to add, 0 to change, 9 to destroy.' : 'Plan: 9 to add, 0 to change, 0 to destroy.';
            const result = { text: summary, summary, add: 9, change: 0, destroy: 0, durationsMs: { plan: 1, show: 1 } };
            return { planFile: `/plans/${fleet}/${sha}.tfplan`, result, initMs: 1 };
          },
          apply: async (fleet) => {
            terraform.push(`apply ${fleet}`);
            const error = applyThrows;
            applyThrows = undefined;
            if (error) throw error;
            return ECS_OUTPUTS;
          },
          discardPlans: async (fleet) => {
            terraform.push(`discard ${fleet}`);
          },
        },
      },
    });
  }

  beforeEach(async () => {
    store = new SqliteStore(':memory:');
    applyThrows = undefined;
    terraform = [];
    env = await start();
  });
  afterEach(() => store.close());

  async function liveFleetAndItsDeletion() {
    const created = await env.fileRequest();
    await env.comment(created.pr, '/approve');
    return env.fileRequest(deleteRequest('linux-build'), ['fleet-delete']);
  }

  it('ends an apply that fails for any reason, not only Terraform, in the failed state with a comment', async () => {
    const { issue, pr } = await env.fileRequest();
    applyThrows = new Error('ENOSPC: no space left on device');
    await env.comment(pr, '/approve');
    expect(await store.issueOps.getRequest(FLEETS_REPO, issue)).toMatchObject({ status: 'apply_failed', plannedSha: null });
    expect(env.github.commentsOn(pr).at(-1)).toMatch(/did not finish[\s\S]*ENOSPC: no space left on device[\s\S]*Nothing was merged/);
    expect(await store.issueOps.fleetLocks()).toEqual([]);
    expect(env.github.merges).toEqual([]);

    await env.comment(pr, '/plan');
    await env.comment(pr, '/approve');
    expect(env.github.merges).toHaveLength(1);
  });

  it('undrains a fleet whose destroy failed, and says so', async () => {
    const { pr } = await liveFleetAndItsDeletion();
    applyThrows = new TerraformError('terraform apply', 1, 'Error: DependencyViolation', false);
    await env.comment(pr, '/approve destroy linux-build');
    expect(env.github.commentsOn(pr).at(-1)).toMatch(/Fleet `linux-build` is no longer draining: it takes jobs again/);
    expect(env.fleets.isDraining('linux-build')).toBe(false);
    expect((await store.issueOps.provisionedFleets()).map((fleet) => [fleet.name, fleet.status])).toEqual([['linux-build', 'live']]);
  });

  it('undrains a fleet whose destroy was abandoned: its pull request closed', async () => {
    const { pr } = await liveFleetAndItsDeletion();
    // A destroy under way when fleetbot stopped, then given up: the fleet was left draining.
    const [provisioned] = await store.issueOps.provisionedFleets();
    await store.issueOps.putProvisionedFleet({ ...provisioned, status: 'draining' });
    env.fleets.drain('linux-build');
    await env.issueOps.onPullRequest(pullRequestPayload(pr, 'closed'));
    await env.issueOps.idle();
    expect(env.fleets.isDraining('linux-build')).toBe(false);
    expect((await store.issueOps.provisionedFleets())[0].status).toBe('live');
  });

  it('reports a destroy cut short by a restart, undrains the fleet and plans the destroy again', async () => {
    const { issue, pr } = await liveFleetAndItsDeletion();
    const request = await store.issueOps.getRequest(FLEETS_REPO, issue);
    if (request?.status !== 'planned') throw new Error('expected a planned deletion');
    await store.issueOps.saveRequest({ ...request, status: 'applying' });
    const [provisioned] = await store.issueOps.provisionedFleets();
    await store.issueOps.putProvisionedFleet({ ...provisioned, status: 'draining' });

    terraform = [];
    env = await start();
    await env.issueOps.load();
    await env.issueOps.idle();
    const said = env.github.commentsOn(pr).find((body) => body.includes('restarted during the apply'));
    expect(said).toMatch(/nothing was merged[\s\S]*A new plan of the head follows[\s\S]*no longer draining/);
    expect(env.fleets.isDraining('linux-build')).toBe(false);
    expect(terraform).toEqual(['discard linux-build', expect.stringMatching(/^plan linux-build .* destroy$/)]);
    expect(await store.issueOps.getRequest(FLEETS_REPO, issue)).toMatchObject({ status: 'planned' });
  });
});
