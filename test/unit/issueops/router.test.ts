import { commentHandlers, pullRequestHandlers } from '../../../src/issueops/router.js';
import { MARKERS } from '../../../src/issueops/messages.js';
import { FLEETS_REPO, deleteRequest, fargateRequest } from '../../helpers/issueops.js';
import {
  commentPayload,
  inMemoryIssueOps,
  issuesPayload,
  pullRequestPayload,
  type InMemoryIssueOps,
} from '../../helpers/issueops-in-memory.js';

describe('IssueOps, one handler per command', () => {
  let env: InMemoryIssueOps;

  beforeEach(async () => {
    env = await inMemoryIssueOps();
  });
  afterEach(() => env.close());

  it('has a handler for every command and for the pull request actions that need one', () => {
    expect(Object.keys(commentHandlers).sort()).toEqual(['approve', 'approve-destroy', 'plan']);
    expect(Object.keys(pullRequestHandlers).sort()).toEqual(['closed', 'reopened', 'synchronize']);
  });

  it('publishes a valid request as a pull request with the fleet files, and plans its head', async () => {
    const { issue, pr, request } = await env.fileRequest();
    const pull = await env.github.getPull(pr);
    expect(pull.headRef).toBe('fleetbot/fleet-linux-build');
    expect(await env.github.readFile('fleets/linux-build.yml', pull.headSha)).toMatch(/^# Written by fleetbot from request #1/);
    expect(await env.github.readFile('terraform/linux-build/cdk.tf.json', pull.headSha)).toContain('"fleet":"linux-build"');
    expect(env.terraform).toEqual([`plan linux-build ${pull.headSha}`]);
    expect(env.github.commentsOn(pr)[0]).toMatch(/Plan: 9 to add/);
    expect(env.github.commentsOn(issue)[0]).toMatch(/✅ The request for fleet `linux-build` is valid/);
    expect(request).toMatchObject({ status: 'planned', plannedSha: pull.headSha, fleet: 'linux-build' });
  });

  it('lists every problem of an invalid request on the issue, labels it, and publishes nothing', async () => {
    const { issue, request } = await env.fileRequest(fargateRequest('Not A Name', 'subnet-nope'));
    expect(env.github.commentsOn(issue)[0]).toMatch(/\*\*Fleet name\*\*[\s\S]*\*\*Subnets\*\*/);
    expect(env.github.labels.get(issue)).toEqual(new Set(['fleet-invalid']));
    expect(env.github.pulls.size).toBe(0);
    expect(request).toMatchObject({ status: 'invalid', detail: expect.stringMatching(/^\d+ invalid field\(s\)$/) });
  });

  it("refuses a name that would mix up its runners with an existing fleet's", async () => {
    const { pr } = await env.fileRequest();
    await env.comment(pr, '/approve');
    const { issue } = await env.fileRequest(fargateRequest('linux-build-large', 'subnet-0123abcd'));
    expect(env.github.commentsOn(issue)[0]).toMatch(/would mix up their runners/);
  });

  it('ignores issues without a fleet label or in another repository, and commands from bots', async () => {
    env.issueOps.onIssue(issuesPayload(env.github.issueNumber(), fargateRequest('x-y', 'subnet-0123abcd'), ['question']));
    env.issueOps.onIssue({
      ...issuesPayload(env.github.issueNumber(), 'body', ['fleet-request']),
      repository: { full_name: 'acme/other' },
    });
    await env.issueOps.idle();
    const { pr } = await env.fileRequest();
    await env.issueOps.onComment(commentPayload(pr, '/approve', 'renovate[bot]', 'Bot'));
    await env.issueOps.idle();
    expect(env.github.pulls.size).toBe(1);
    expect(env.terraform).toEqual([expect.stringMatching(/^plan linux-build /)]);
  });

  it('plans again on /plan by the requester, and refuses anyone else who may not approve', async () => {
    const { pr } = await env.fileRequest();
    await env.comment(pr, '/plan', 'passer-by');
    expect(env.github.commentsOn(pr).at(-1)).toMatch(/@passer-by .*only the requester or an approver can ask for a new plan/);
    await env.comment(pr, '/plan', 'requester');
    expect(env.terraform).toHaveLength(2);
  });

  it('plans a pushed head, and does not plan a reopened head that has its plan', async () => {
    const { pr } = await env.fileRequest();
    const pushed = await env.github.push(pr, {});
    await env.issueOps.onPullRequest(pullRequestPayload(pr, 'synchronize'));
    await env.issueOps.idle();
    expect(env.terraform.at(-1)).toBe(`plan linux-build ${pushed}`);
    await env.issueOps.onPullRequest(pullRequestPayload(pr, 'reopened'));
    await env.issueOps.idle();
    expect(env.terraform).toHaveLength(2);
  });

  it('refuses to plan a head whose Terraform is not what fleetbot synthesizes', async () => {
    const { pr } = await env.fileRequest();
    await env.github.push(pr, { 'terraform/linux-build/cdk.tf.json': '{"resource":{}}' });
    await env.issueOps.onPullRequest(pullRequestPayload(pr, 'synchronize'));
    await env.issueOps.idle();
    expect(env.github.commentsOn(pr)[0]).toMatch(/is not what fleetbot synthesizes/);
    expect((await env.store.issueOps.getRequestByPull(FLEETS_REPO, pr))?.status).toBe('plan_failed');
  });

  it('applies the plan on /approve by an approver, merges, closes the issue and serves the fleet', async () => {
    const { issue, pr } = await env.fileRequest();
    await env.comment(pr, '/approve', 'requester');
    expect(env.github.commentsOn(pr).at(-1)).toMatch(/you are not an approver/);
    await env.comment(pr, '/approve');
    expect(env.terraform.at(-2)).toMatch(/^apply linux-build /);
    expect(env.github.merges).toEqual([expect.objectContaining({ number: pr, title: `Create runner fleet linux-build (#${pr})` })]);
    expect(env.github.closedIssues.get(issue)).toBe('completed');
    expect(env.github.commentsOn(issue).at(-1)).toMatch(/Fleet `linux-build` is ready/);
    expect(env.fleets.get('linux-build')?.compute).toMatchObject({ cluster: 'fleetbot-cluster' });
    expect(await env.store.issueOps.fleetLocks()).toEqual([]);
  });

  it('closes a request whose pull request closed unapproved, and frees its fleet for another request', async () => {
    const { pr, issue } = await env.fileRequest();
    await env.issueOps.onPullRequest(pullRequestPayload(pr, 'closed', 'someone-else'));
    await env.issueOps.idle();
    expect((await env.store.issueOps.getRequest(FLEETS_REPO, issue))?.status).toBe('closed');
    expect(env.github.commentsOn(pr).at(-1)).toMatch(/@someone-else merged this without `\/approve`/);
    const again = await env.fileRequest();
    expect(again.request?.status).toBe('planned');
  });

  it('deletes a fleet on /approve destroy: drained, destroyed and forgotten', async () => {
    const created = await env.fileRequest();
    await env.comment(created.pr, '/approve');
    const { issue, pr } = await env.fileRequest(deleteRequest('linux-build'), ['fleet-delete']);
    expect(env.terraform.at(-1)).toMatch(/^plan linux-build .* destroy$/);
    await env.comment(pr, '/approve');
    expect(env.github.commentsOn(pr).at(-1)).toMatch(/approve it with `\/approve destroy linux-build`/);
    await env.comment(pr, '/approve destroy linux-build');
    expect(env.fleets.get('linux-build')).toBeUndefined();
    expect(env.github.commentsOn(issue).at(-1)).toMatch(/Fleet `linux-build` is deleted/);
    expect(await env.store.issueOps.provisionedFleets()).toEqual([]);
  });

  it('keeps the plan comment in one place: a new plan replaces it', async () => {
    const { pr } = await env.fileRequest();
    await env.comment(pr, '/plan', 'requester');
    expect(env.github.commentsOn(pr).filter((body) => body.startsWith(MARKERS.plan))).toHaveLength(1);
  });
});
