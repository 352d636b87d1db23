import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MARKERS } from '../../src/issueops/messages.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { startApp, type AppUnderTest } from '../helpers/app-harness.js';
import { createRunnerInfra, fleetbotTasks, tagOf } from '../helpers/aws-fixture.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { deleteRequest, fargateRequest, FLEETS_REPO, issueOpsSettingsFor } from '../helpers/issueops.js';
import { ecsFleet } from '../helpers/fleets.js';
import { describeWithMoto, startMoto, type Moto } from '../helpers/moto.js';
import { queuedJob } from '../helpers/payloads.js';
import { issueCommentEvent, issuesEvent, pullRequestEvent } from '../helpers/webhook-events.js';

/**
 * IssueOps failure paths, in-process through probot.receive. Terraform here is `false` (it always
 * fails), so nothing in these tests depends on a real plan: the real ones are in test/e2e/issueops.
 */
describeWithMoto('IssueOps when things go wrong', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let app: AppUnderTest | undefined;
  let repoCount = 0;
  let repo = '';

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    github = await startFakeGitHub();
    repo = `${FLEETS_REPO}-${++repoCount}`;
    github.createRepo(repo, { files: { 'README.md': '# fleets\n' } });
    github.setRole(repo, 'alice', 'maintain');
    const settings = issueOpsSettingsFor(moto, mkdtempSync(join(tmpdir(), 'fleetbot-tf-')), { repository: repo });
    app = await startApp({ moto, github, fleets: [], issueOps: { ...settings, terraform: { ...settings.terraform, binary: 'false' } } });
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    expect(github.openApiViolations).toEqual([]);
    await github.close();
  });

  const bot = (number: number) => github.comments(repo, number).filter((comment) => comment.author === github.app.botLogin);

  async function file(body: string, labels = ['fleet-request'], user = 'dana'): Promise<number> {
    const number = github.createIssue(repo, { title: 'Fleet request', body, labels, user });
    const event = issuesEvent(github, repo, number, 'opened');
    await app!.deliver('issues', event.payload);
    return number;
  }

  it('retries GitHub 5xx answers while reporting an invalid request, and posts exactly one comment', async () => {
    github.failNext('POST', /\/issues\/\d+\/comments$/, 502, 2);
    const issue = await file(fargateRequest('ok-name', 'subnet-nope'));
    expect(bot(issue)).toHaveLength(1);
    expect(bot(issue)[0].body).toContain('**Subnets**');
  });

  it('explains on the issue when GitHub keeps failing, and leaves no lock behind that blocks a retry by edit', async () => {
    // The harness retries GitHub calls three times: all three fail.
    github.failNext('POST', /\/git\/trees$/, 500, 3);
    const issue = await file(fargateRequest('gh-down', 'subnet-0123abcd'));
    const failure = bot(issue).find((comment) => comment.body.includes('could not finish'));
    expect(failure?.body).toMatch(/Nothing was applied/);
    expect(github.branchSha(repo, 'fleetbot/fleet-gh-down')).toBeUndefined();

    github.editIssue(repo, issue, { body: fargateRequest('gh-down', 'subnet-0123abcd', { 'Maximum runners': '4' }) });
    await app!.deliver('issues', issuesEvent(github, repo, issue, 'edited').payload);
    expect(github.branchSha(repo, 'fleetbot/fleet-gh-down')).toBeDefined();
  });

  it('reports a terraform that cannot plan on the pull request, and refuses to apply without a plan', async () => {
    const issue = await file(fargateRequest('tf-broken', 'subnet-0123abcd'));
    const accepted = bot(issue).find((comment) => comment.body.startsWith(MARKERS.request))!;
    const pr = Number(/\[#(\d+)\]/.exec(accepted.body)![1]);
    const plan = bot(pr).find((comment) => comment.body.startsWith(MARKERS.plan));
    expect(plan?.body).toMatch(/No plan for `[0-9a-f]{7}`[\s\S]*`false init[^`]*` failed/);
    const head = github.pull(repo, pr).head.sha;
    expect(github.checkRuns(repo, head).find((check) => check.name === 'fleetbot/plan')).toMatchObject({ conclusion: 'failure' });

    await app!.deliver('issue_comment', issueCommentEvent(github, repo, pr, '/approve', 'alice').payload);
    expect(bot(pr).at(-1)?.body).toMatch(/^@alice fleetbot did not apply anything: there is no valid plan/);
    expect(github.mergedPulls).toEqual([]);
  });

  it('refuses to plan or approve a pull request that changes more than the fleet files, before terraform runs', async () => {
    const issue = await file(fargateRequest('extra-file', 'subnet-0123abcd'));
    const accepted = bot(issue).find((comment) => comment.body.startsWith(MARKERS.request))!;
    const pr = Number(/\[#(\d+)\]/.exec(accepted.body)![1]);
    github.pushCommit(repo, 'fleetbot/fleet-extra-file', { '.github/workflows/deploy.yml': 'on: push\n' }, { author: 'mallory' });
    await app!.deliver('pull_request', pullRequestEvent(github, repo, pr, 'synchronize').payload);
    const plan = bot(pr).find((comment) => comment.body.startsWith(MARKERS.plan));
    expect(plan?.body).toMatch(/the pull request changes `\.github\/workflows\/deploy\.yml`; a fleet request may change only/);
    expect(plan?.body).not.toMatch(/`false init/);

    await app!.deliver('issue_comment', issueCommentEvent(github, repo, pr, '/approve', 'alice').payload);
    expect(bot(pr).at(-1)?.body).toMatch(/^@alice fleetbot did not apply anything: there is no valid plan \(the pull request changes/);
    expect(github.mergedPulls).toEqual([]);
  });

  it("refuses the /approve of whoever edited the request issue's form, as the edited event's sender", async () => {
    const issue = await file(fargateRequest('edited-by', 'subnet-0123abcd'));
    const accepted = bot(issue).find((comment) => comment.body.startsWith(MARKERS.request))!;
    const pr = Number(/\[#(\d+)\]/.exec(accepted.body)![1]);
    github.editIssue(repo, issue, { body: fargateRequest('edited-by', 'subnet-0123abcd', { 'Maximum runners': '4' }) });
    await app!.deliver('issues', issuesEvent(github, repo, issue, 'edited', { sender: 'alice' }).payload);
    expect(await app!.store.issueOps.requestChangers(repo, issue)).toEqual(['alice']);

    await app!.deliver('issue_comment', issueCommentEvent(github, repo, pr, '/approve', 'alice').payload);
    expect(bot(pr).at(-1)?.body).toMatch(/^@alice fleetbot did not apply anything: you changed this request after it was filed/);
  });

  it('holds a fleet name for the first request until its pull request is closed', async () => {
    await file(fargateRequest('shared-name', 'subnet-0123abcd'));
    const second = await file(fargateRequest('shared-name', 'subnet-0123abcd'), ['fleet-request'], 'erin');
    expect(bot(second)[0].body).toMatch(/\*\*Fleet name\*\*: .*already being requested in \\#\d+/);
    expect(github.labels(repo, second)).toContain('fleet-invalid');
  });

  it("frees the fleet name when the request's pull request is closed unmerged", async () => {
    const first = await file(fargateRequest('closed-early', 'subnet-0123abcd'));
    const accepted = bot(first).find((comment) => comment.body.startsWith(MARKERS.request))!;
    const pr = Number(/\[#(\d+)\]/.exec(accepted.body)![1]);
    const closed = await fetch(`${github.apiUrl}/repos/${repo}/pulls/${pr}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'closed' }),
    });
    expect(closed.status).toBe(200);
    await app!.deliver('pull_request', pullRequestEvent(github, repo, pr, 'closed').payload);
    expect(await app!.store.issueOps.fleetLocks()).toEqual([]);
    expect(await app!.store.issueOps.getRequest(repo, first)).toMatchObject({ status: 'closed' });

    const second = await file(fargateRequest('closed-early', 'subnet-0123abcd'), ['fleet-request'], 'erin');
    expect(bot(second)[0].body).toMatch(/✅ The request for fleet `closed-early` is valid/);
  });

  it('refuses to delete a fleet that IssueOps did not build', async () => {
    const issue = await file(deleteRequest('not-a-fleet'), ['fleet-delete']);
    expect(bot(issue)[0].body).toMatch(/\*\*Fleet name\*\*: .*not-a-fleet/);
  });

  it('reports an apply that a restart interrupted, and frees its fleet lock', async () => {
    await app!.close();
    const pr = github.createIssue(repo, { title: 'stands in for the pull request', body: '', user: 'dana' });
    const databaseFile = join(mkdtempSync(join(tmpdir(), 'fleetbot-db-')), 'fleetbot.db');
    const store = new SqliteStore(databaseFile);
    await store.issueOps.saveRequest({
      repo,
      issueNumber: pr - 1,
      kind: 'create',
      installationId: 1,
      author: 'dana',
      fleet: 'half-done',
      status: 'applying',
      detail: null,
      spec: ecsFleet({ name: 'half-done' }),
      prNumber: pr,
      branch: 'fleetbot/fleet-half-done',
      plannedSha: 'a'.repeat(40),
      planFile: '/nowhere',
      plannedAt: 1,
      planSummary: null,
      appliedSha: null,
      createdAt: 1,
      updatedAt: 1,
    });
    await store.issueOps.acquireFleetLock('half-done', repo, pr - 1, 1);
    await store.close();

    const settings = issueOpsSettingsFor(moto, mkdtempSync(join(tmpdir(), 'fleetbot-tf-')), { repository: repo });
    app = await startApp({
      moto,
      github,
      fleets: [],
      databaseFile,
      issueOps: { ...settings, terraform: { ...settings.terraform, binary: 'false' } },
    });
    await app.fleetbot.idle();
    expect(bot(pr).find((comment) => comment.body.includes('restarted during the apply'))?.body).toMatch(
      /nothing was merged; Terraform's state says what was done\. A new plan of the head follows/,
    );
    expect(await app.store.issueOps.getRequest(repo, pr - 1)).toMatchObject({ status: 'apply_failed', plannedSha: null });
    expect(await app.store.issueOps.fleetLocks()).toEqual([]);
  });

  it('serves fleets applied before a restart as soon as it starts', async () => {
    await app!.close();
    const infra = await createRunnerInfra(moto, `applied-${repoCount}`);
    const live = ecsFleet({
      name: 'applied-before',
      labels: ['self-hosted', 'applied-before'],
      compute: {
        cluster: infra.cluster,
        taskDefinition: infra.taskDefinition,
        subnets: [infra.subnetId],
        securityGroups: [infra.securityGroupId],
      },
    });
    const databaseFile = join(mkdtempSync(join(tmpdir(), 'fleetbot-db-')), 'fleetbot.db');
    const store = new SqliteStore(databaseFile);
    await store.issueOps.putProvisionedFleet({
      name: live.name,
      requested: live,
      live,
      status: 'live',
      appliedSha: 'a'.repeat(40),
      requestIssue: 1,
      updatedAt: 1,
    });
    await store.close();

    const settings = issueOpsSettingsFor(moto, mkdtempSync(join(tmpdir(), 'fleetbot-tf-')), { repository: repo });
    app = await startApp({
      moto,
      github,
      fleets: [],
      databaseFile,
      issueOps: { ...settings, terraform: { ...settings.terraform, binary: 'false' } },
    });
    await app.deliver('workflow_job', queuedJob({ jobId: 31337, org: 'acme', labels: ['self-hosted', 'applied-before'] }));
    const tasks = await fleetbotTasks(moto, infra.cluster);
    expect(tasks.map((task) => tagOf(task, 'fleetbot:job'))).toEqual(['31337']);
  });

  it('ignores issues without a fleet label, and /approve anywhere but on its own pull requests', async () => {
    const before = github.requests.length;
    const plain = github.createIssue(repo, { title: 'Question', body: fargateRequest('x', 'y'), user: 'dana' });
    await app!.deliver('issues', issuesEvent(github, repo, plain, 'opened').payload);
    await app!.deliver('issue_comment', issueCommentEvent(github, repo, plain, '/approve', 'alice').payload);
    const writes = github.requests.slice(before).filter((request) => request.method !== 'GET');
    expect(writes).toEqual([]);
  });
});
