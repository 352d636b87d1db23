import { FLEETS_REPO, fargateRequest } from '../../helpers/issueops.js';
import { inMemoryIssueOps, issuesPayload, pullRequestPayload, type InMemoryIssueOps } from '../../helpers/issueops-in-memory.js';

/** Whoever changed a request after it was filed is a requester too: they may not approve its plan. */
describe('IssueOps: who changed a request may not approve it', () => {
  let env: InMemoryIssueOps;

  beforeEach(async () => {
    env = await inMemoryIssueOps();
    for (const login of ['erin', 'mallory', 'carol']) env.github.roles.set(login, 'maintain');
  });
  afterEach(() => env.close());

  async function approveAs(pr: number, login: string): Promise<string | undefined> {
    await env.comment(pr, '/approve', login);
    return env.github.commentsOn(pr).at(-1);
  }

  it("refuses the approval of whoever edited the request issue's form, and takes another approver's", async () => {
    const { issue, pr } = await env.fileRequest();
    const edited = issuesPayload(
      issue,
      fargateRequest('linux-build', 'subnet-0123abcd', { 'Maximum runners': '4' }),
      ['fleet-request'],
      'edited',
    );
    env.issueOps.onIssue({ ...edited, sender: { login: 'Erin', type: 'User' } });
    await env.issueOps.idle();
    expect(await env.store.issueOps.requestChangers(FLEETS_REPO, issue)).toEqual(['Erin']);

    expect(await approveAs(pr, 'erin')).toMatch(/^@erin .*you changed this request after it was filed .*someone else must approve it/);
    expect(env.github.merges).toEqual([]);
    await approveAs(pr, 'approver');
    expect(env.github.merges).toHaveLength(1);
  });

  it('refuses the approval of whoever pushed to the branch, as the synchronize sender says', async () => {
    const { pr } = await env.fileRequest();
    await env.github.push(pr, {}, 'mallory');
    await env.issueOps.onPullRequest({ ...pullRequestPayload(pr, 'synchronize'), sender: { login: 'mallory', type: 'User' } });
    await env.issueOps.idle();
    expect(env.terraform).toHaveLength(2);
    expect(await approveAs(pr, 'mallory')).toMatch(/you changed this request after it was filed/);
    expect(env.github.merges).toEqual([]);
  });

  it("refuses the approval of a commit's author on the branch, even when no event named them", async () => {
    const { pr } = await env.fileRequest();
    await env.github.push(pr, {}, 'carol');
    await env.issueOps.onPullRequest(pullRequestPayload(pr, 'synchronize'));
    await env.issueOps.idle();
    expect(await approveAs(pr, 'carol')).toMatch(/you changed this request after it was filed/);
    expect(env.terraform.filter((call) => call.startsWith('apply'))).toEqual([]);
    await approveAs(pr, 'erin');
    expect(env.github.merges).toHaveLength(1);
  });

  it("does not count the requester's own edits or fleetbot's commits against anyone", async () => {
    const { issue, pr } = await env.fileRequest();
    const edited = issuesPayload(
      issue,
      fargateRequest('linux-build', 'subnet-0123abcd', { 'Maximum runners': '4' }),
      ['fleet-request'],
      'edited',
    );
    env.issueOps.onIssue(edited);
    await env.issueOps.idle();
    expect(await env.store.issueOps.requestChangers(FLEETS_REPO, issue)).toEqual([]);
    await approveAs(pr, 'approver');
    expect(env.github.merges).toHaveLength(1);
  });
});
