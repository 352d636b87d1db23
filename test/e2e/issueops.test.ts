import { DescribeClustersCommand } from '@aws-sdk/client-ecs';
import { CreateSecurityGroupCommand, DescribeSubnetsCommand } from '@aws-sdk/client-ec2';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MARKERS } from '../../src/issueops/messages.js';
import { appEnvironment, eventually, startAppProcess, type AppProcess } from '../helpers/app-process.js';
import { clientsFor, createRunnerInfra, fleetbotTasks, tagOf, type RunnerInfra } from '../helpers/aws-fixture.js';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.js';
import { deleteRequest, fargateRequest, FLEETS_REPO, issueOpsSettingsFor } from '../helpers/issueops.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { completedJob, queuedJob } from '../helpers/payloads.js';
import { describeWithTerraform } from '../helpers/terraform.js';
import { issueCommentEvent, issuesEvent, pullRequestEvent, type WebhookEvent } from '../helpers/webhook-events.js';

/**
 * Whole IssueOps flows against `node dist/src/main.js`: signed webhooks over HTTP, the fake GitHub as a
 * GHES host, real terraform against moto. The tests run in order and share the fleets repository.
 */

const REQUESTER = 'dana'; // an admin, so only the "not your own request" rule stops her approving
const APPROVER = 'alice'; // maintain
const WRITER = 'bob'; // write: not an approver
const TEAM_APPROVER = 'carol'; // read, but in the approver team
const TERRAFORM_TIMEOUT = 240_000;

describeWithTerraform('fleets by IssueOps, end to end over HTTP', () => {
  let moto: Moto;
  let github: FakeGitHub;
  let infra: RunnerInfra;
  let app: AppProcess;
  let appEnv: Record<string, string>;

  beforeAll(async () => {
    moto = await startMoto();
    github = await startFakeGitHub();
    infra = await createRunnerInfra(moto);
    github.createRepo(FLEETS_REPO, { files: { 'README.md': '# Runner fleets\n' } });
    github.setRole(FLEETS_REPO, REQUESTER, 'admin');
    github.setRole(FLEETS_REPO, APPROVER, 'maintain');
    github.setRole(FLEETS_REPO, WRITER, 'write');
    github.addTeamMember('acme', 'platform', TEAM_APPROVER);
    const workdir = mkdtempSync(join(tmpdir(), 'fleetbot-terraform-'));
    // A one-second shutdown bound: an apply under way at SIGTERM must outlast it (it is never cut short).
    const extra = { FLEETBOT_RECONCILE_INTERVAL_SECONDS: '2', FLEETBOT_SHUTDOWN_SECONDS: '1' };
    appEnv = appEnvironment(moto, github, [], extra, issueOpsSettingsFor(moto, workdir));
    app = await startAppProcess(appEnv);
  }, 60_000);
  afterAll(async () => {
    // The app's own log, for whoever has to find out why a step here failed.
    if (app) writeFileSync(join(tmpdir(), 'fleetbot-issueops-e2e.log'), app.output());
    await app?.stop();
    await github?.close();
    await moto?.stop();
  });
  afterEach(() => {
    expect(github.openApiViolations).toEqual([]);
  });

  async function deliver(event: WebhookEvent): Promise<void> {
    const response = await app.post(event.name, event.payload);
    expect(response.status).toBe(200);
  }

  function fileRequest(body: string, labels = ['fleet-request'], user = REQUESTER): number {
    return github.createIssue(FLEETS_REPO, { title: 'Fleet request', body, labels, user });
  }

  const commentsOn = (number: number) => github.comments(FLEETS_REPO, number);
  const botComments = (number: number) => commentsOn(number).filter((comment) => comment.author === github.app.botLogin);

  /** The pull request the request comment on the issue links to. */
  async function pullOf(issue: number): Promise<number> {
    return eventually(
      `a pull request for #${issue}`,
      async () => {
        const accepted = botComments(issue).find((comment) => comment.body.startsWith(MARKERS.request) && comment.body.includes('✅'));
        const match = accepted && /\[#(\d+)\]/.exec(accepted.body);
        return match ? Number(match[1]) : undefined;
      },
      30_000,
    );
  }

  /** The plan comment once it names `sha` (the PR head when not given). */
  async function planFor(pr: number, sha?: string): Promise<string> {
    return eventually(
      `a plan comment on #${pr}`,
      async () => {
        const head = sha ?? github.pull(FLEETS_REPO, pr).head.sha;
        const plan = botComments(pr).find((comment) => comment.body.startsWith(MARKERS.plan));
        return plan && plan.body.includes(head.slice(0, 7)) && !plan.body.includes('Planning') ? plan.body : undefined;
      },
      TERRAFORM_TIMEOUT,
    );
  }

  async function replyTo(pr: number, user: string, pattern: RegExp): Promise<string> {
    return eventually(
      `a reply to ${user} on #${pr} matching ${pattern}`,
      async () => botComments(pr).find((comment) => comment.body.startsWith(`@${user}`) && pattern.test(comment.body))?.body,
      TERRAFORM_TIMEOUT,
    );
  }

  async function approve(pr: number, user: string, text = '/approve'): Promise<void> {
    await deliver(issueCommentEvent(github, FLEETS_REPO, pr, text, user));
  }

  let livePr = 0;
  let liveIssue = 0;

  it('answers an invalid request with one comment listing each field, updated in place, and builds nothing', async () => {
    const issue = fileRequest(fargateRequest('Linux_Big', 'subnet-nope', { vCPU: '3', 'Maximum runners': '0' }));
    await deliver(issuesEvent(github, FLEETS_REPO, issue, 'opened'));
    const first = await eventually('the problems comment', async () => botComments(issue)[0]?.body);
    expect(first.startsWith(MARKERS.request)).toBe(true);
    for (const field of ['Fleet name', 'vCPU', 'Maximum runners', 'Subnets']) expect(first).toContain(`**${field}**`);
    expect(github.labels(FLEETS_REPO, issue)).toContain('fleet-invalid');

    github.editIssue(FLEETS_REPO, issue, { body: fargateRequest('linux-big', 'subnet-nope') });
    await deliver(issuesEvent(github, FLEETS_REPO, issue, 'edited'));
    await eventually('the comment to be updated', async () => (botComments(issue)[0].body !== first ? true : undefined));
    expect(botComments(issue)).toHaveLength(1);
    expect(botComments(issue)[0].body).toContain('**Subnets**');
    expect(botComments(issue)[0].body).not.toContain('**vCPU**');
    expect(github.branchSha(FLEETS_REPO, 'fleetbot/fleet-linux-big')).toBeUndefined();
  });

  it(
    'turns a fixed request into a pull request with the spec and its Terraform, and posts the plan',
    async () => {
      const issue = fileRequest(fargateRequest('linux-big', 'subnet-nope'));
      await deliver(issuesEvent(github, FLEETS_REPO, issue, 'opened'));
      await eventually('the problems comment', async () => botComments(issue)[0]?.body);
      github.editIssue(FLEETS_REPO, issue, { body: fargateRequest('linux-big', infra.subnetId) });
      await deliver(issuesEvent(github, FLEETS_REPO, issue, 'edited'));

      const pr = await pullOf(issue);
      expect(github.labels(FLEETS_REPO, issue)).not.toContain('fleet-invalid');
      expect(botComments(issue)).toHaveLength(1);
      const pull = github.pull(FLEETS_REPO, pr);
      expect(pull.head.ref).toBe('fleetbot/fleet-linux-big');
      expect(pull.body).toContain(`#${issue}`);
      const spec = github.readFile(FLEETS_REPO, pull.head.sha, 'fleets/linux-big.yml');
      expect(spec).toContain('name: linux-big');
      expect(JSON.parse(github.readFile(FLEETS_REPO, pull.head.sha, 'terraform/linux-big/cdk.tf.json')!)).toHaveProperty(
        'resource.aws_ecs_cluster',
      );

      const plan = await planFor(pr);
      expect(plan).toMatch(/\*\*Plan: \d+ to add, 0 to change, 0 to destroy\.\*\*/);
      expect(plan).toContain(`Planned head: \`${pull.head.sha}\``);
      expect(plan).toContain('<details><summary>Full plan</summary>');
      const checks = github.checkRuns(FLEETS_REPO, pull.head.sha);
      expect(checks.find((check) => check.name === 'fleetbot/plan')).toMatchObject({ status: 'completed', conclusion: 'success' });
      livePr = pr;
      liveIssue = issue;

      // An edit that changes nothing the fleet is made of keeps the branch, and so the plan.
      const before = github.requests.length;
      github.editIssue(FLEETS_REPO, issue, {
        body: fargateRequest('linux-big', infra.subnetId, { Justification: 'Builds need more memory; approved by the platform lead.' }),
      });
      await deliver(issuesEvent(github, FLEETS_REPO, issue, 'edited'));
      await eventually('the PR text to be refreshed', async () =>
        github.requests.slice(before).some((request) => request.method === 'PATCH' && /\/pulls\/\d+$/.test(request.path))
          ? true
          : undefined,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(github.pull(FLEETS_REPO, pr).head.sha).toBe(pull.head.sha);
      expect(
        github.requests.slice(before).filter((request) => request.method === 'POST' && /\/git\/|check-runs/.test(request.path)),
      ).toEqual([]);
    },
    TERRAFORM_TIMEOUT,
  );

  it('refuses an /approve from someone who is not an approver, and from the requester', async () => {
    await approve(livePr, WRITER);
    expect(
      await replyTo(livePr, WRITER, /not an approver: approving needs a repository role of admin or maintain, or membership of `platform`/),
    ).toBeDefined();
    await approve(livePr, REQUESTER);
    expect(await replyTo(livePr, REQUESTER, /you opened the request/)).toBeDefined();
    await approve(livePr, APPROVER, 'LGTM, /approve');
    expect(github.mergedPulls).toHaveLength(0);
  }, 30_000);

  it(
    'applies exactly the planned head on /approve and merges it, even when SIGTERM comes mid-apply; the fleet then serves jobs',
    async () => {
      const planned = github.pull(FLEETS_REPO, livePr).head.sha;
      const started = Date.now();
      await approve(livePr, TEAM_APPROVER);
      await eventually('the apply to start', async () => (app.output().includes('applying the saved plan') ? true : undefined), 30_000);
      // A deploy stops the app now: the apply (about 20 s against moto) runs to its end, far past the 1 s bound.
      await app.stop();
      const merged = github.mergedPulls.find((entry) => entry.number === livePr);
      console.info(`/approve → merged and exited: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(app.exitCode()).toBe(0);
      expect(app.output()).toContain('fleet request applied');
      expect(merged?.headSha).toBe(planned);
      app = await startAppProcess(appEnv);
      await eventually('the applied comment', async () =>
        botComments(livePr).find((comment) => /Applied `[0-9a-f]{7}`[\s\S]*This pull request is merged/.test(comment.body)),
      );
      await eventually('the issue to close', async () => (github.issue(FLEETS_REPO, liveIssue).state === 'closed' ? true : undefined));
      expect(botComments(livePr).filter((comment) => comment.body.startsWith(`@${TEAM_APPROVER}`))).toEqual([]);
      expect(commentsOn(liveIssue).at(-1)?.body).toContain('runs-on: [self-hosted, linux, linux-big]');
      const { ecs } = clientsFor(moto);
      const clusters = await ecs.send(new DescribeClustersCommand({ clusters: ['fleetbot-linux-big'] }));
      expect(clusters.clusters?.[0]?.status).toBe('ACTIVE');
      await deliver(pullRequestEvent(github, FLEETS_REPO, livePr, 'closed'));

      await deliver({ name: 'workflow_job', payload: queuedJob({ jobId: 9001, org: 'acme', labels: ['self-hosted', 'linux-big'] }) });
      const task = await eventually('a runner task on the new fleet', async () => (await fleetbotTasks(moto, 'fleetbot-linux-big'))[0]);
      expect(tagOf(task, 'fleetbot:fleet')).toBe('linux-big');
      expect(task.taskDefinitionArn).toContain('fleetbot-linux-big');
    },
    TERRAFORM_TIMEOUT,
  );

  it('answers a second /approve with the SHA it already applied', async () => {
    const planned = github.mergedPulls.find((entry) => entry.number === livePr)!.headSha;
    await approve(livePr, APPROVER);
    expect(await replyTo(livePr, APPROVER, new RegExp(`already applied at \`${planned}\``))).toBeDefined();
  }, 30_000);

  let stalePr = 0;

  it(
    'refuses an /approve once the head moved, plans the new head, and never plans Terraform edited by hand',
    async () => {
      const branch = 'fleetbot/fleet-stale-check';
      const issue = fileRequest(fargateRequest('stale-check', infra.subnetId));
      await deliver(issuesEvent(github, FLEETS_REPO, issue, 'opened'));
      stalePr = await pullOf(issue);
      await planFor(stalePr);

      // A push lands after the plan, and the /approve arrives before GitHub's synchronize event.
      github.pushCommit(FLEETS_REPO, branch, { 'NOTES.md': 'why this fleet\n' }, { author: WRITER });
      await approve(stalePr, APPROVER);
      expect(await replyTo(stalePr, APPROVER, /head moved to/)).toBeDefined();
      // The pull request may change nothing but the fleet's two files: the new head is not planned.
      await deliver(pullRequestEvent(github, FLEETS_REPO, stalePr, 'synchronize'));
      expect(await planFor(stalePr)).toMatch(/No plan for[\s\S]*the pull request changes `NOTES\.md`; a fleet request may change only/);

      const terraformPath = 'terraform/stale-check/cdk.tf.json';
      const original = github.readFile(FLEETS_REPO, branch, terraformPath)!;
      const tampered = JSON.parse(original);
      tampered.data = { external: { run: { program: ['sh', '-c', 'echo pwned'] } } };
      github.pushCommit(FLEETS_REPO, branch, { 'NOTES.md': null, [terraformPath]: JSON.stringify(tampered) }, { author: WRITER });
      await deliver(pullRequestEvent(github, FLEETS_REPO, stalePr, 'synchronize'));
      const refused = await planFor(stalePr);
      expect(refused).toContain('No plan for');
      expect(refused).toContain('is not what fleetbot synthesizes');
      const head = github.pull(FLEETS_REPO, stalePr).head.sha;
      expect(github.checkRuns(FLEETS_REPO, head).find((check) => check.name === 'fleetbot/plan')).toMatchObject({ conclusion: 'failure' });
      await approve(stalePr, APPROVER);
      expect(await replyTo(stalePr, APPROVER, /no valid plan/)).toBeDefined();

      github.pushCommit(FLEETS_REPO, branch, { [terraformPath]: original }, { author: WRITER });
      const restored = github.pull(FLEETS_REPO, stalePr).head.sha;
      await deliver(pullRequestEvent(github, FLEETS_REPO, stalePr, 'synchronize'));
      expect(await planFor(stalePr, restored)).toMatch(/\*\*Plan: \d+ to add/);
    },
    TERRAFORM_TIMEOUT,
  );

  it(
    'reports a failed apply with its error tail, merges nothing, and needs a new plan',
    async () => {
      // Something outside fleetbot takes the name of the security group the plan creates: the apply fails half-way.
      const { ec2 } = clientsFor(moto);
      const subnet = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [infra.subnetId] }));
      await ec2.send(
        new CreateSecurityGroupCommand({
          VpcId: subnet.Subnets![0].VpcId!,
          GroupName: 'fleetbot-stale-check-runners',
          Description: 'squatter',
        }),
      );
      await approve(stalePr, APPROVER);
      const failure = await eventually(
        'the apply failure',
        async () =>
          botComments(stalePr).find((comment) => comment.body.includes('failed') && comment.body.startsWith('### ❌ Apply'))?.body,
        TERRAFORM_TIMEOUT,
      );
      expect(failure).toMatch(/InvalidGroup\.Duplicate|already exists/i);
      expect(failure).not.toMatch(/AKIA|secret_key|SECRET_ACCESS/i);
      expect(github.mergedPulls.map((entry) => entry.number)).not.toContain(stalePr);
      await approve(stalePr, APPROVER);
      expect(await replyTo(stalePr, APPROVER, /last apply failed; a new plan is needed/)).toBeDefined();
    },
    TERRAFORM_TIMEOUT,
  );

  it(
    'deletes a fleet: drains it, lets its busy runner finish, destroys it and stops matching its jobs',
    async () => {
      const issue = fileRequest(deleteRequest('linux-big'), ['fleet-delete']);
      await deliver(issuesEvent(github, FLEETS_REPO, issue, 'opened'));
      const pr = await pullOf(issue);
      const head = github.pull(FLEETS_REPO, pr).head.sha;
      expect(github.readFile(FLEETS_REPO, head, 'fleets/linux-big.yml')).toBeUndefined();
      const plan = await planFor(pr);
      expect(plan).toMatch(/\*\*Plan: 0 to add, 0 to change, \d+ to destroy\.\*\*/);
      expect(plan).toContain('`/approve destroy linux-big`');

      await approve(pr, APPROVER);
      expect(await replyTo(pr, APPROVER, /approve it with `\/approve destroy linux-big`/)).toBeDefined();
      await approve(pr, APPROVER, '/approve destroy linux-big');
      // The runner of job 9001 is still busy: the destroy waits for it.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(github.mergedPulls.map((entry) => entry.number)).not.toContain(pr);
      const runner = tagOf((await fleetbotTasks(moto, 'fleetbot-linux-big'))[0], 'fleetbot:runner')!;
      await deliver({ name: 'workflow_job', payload: completedJob({ jobId: 9001, org: 'acme', runnerName: runner }) });

      await eventually('the merge of the deletion', async () => github.mergedPulls.find((entry) => entry.number === pr), TERRAFORM_TIMEOUT);
      await eventually('the issue to close', async () => (github.issue(FLEETS_REPO, issue).state === 'closed' ? true : undefined));
      expect(commentsOn(issue).at(-1)?.body).toContain('Fleet `linux-big` is deleted');
      const { ecs } = clientsFor(moto);
      const clusters = await ecs.send(new DescribeClustersCommand({ clusters: ['fleetbot-linux-big'] }));
      expect(clusters.clusters?.[0]?.status ?? 'INACTIVE').toBe('INACTIVE');
      await deliver({ name: 'workflow_job', payload: queuedJob({ jobId: 9002, org: 'acme', labels: ['self-hosted', 'linux-big'] }) });
      await eventually('the job to be logged unmatched', async () =>
        app.output().includes('no fleet serves labels [self-hosted, linux-big]') ? true : undefined,
      );
    },
    TERRAFORM_TIMEOUT * 2,
  );
});
