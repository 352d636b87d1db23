import { parse as parseYaml } from 'yaml';
import { fleetSpecSchema, type FleetSpec } from '../fleets/spec.js';
import type { PlannedRequest, PublishedRequest, UnplannedRequest } from '../store/types.js';
import { redactSecrets } from '../terraform/redact.js';
import { TerraformError } from '../terraform/types.js';
import { formatZodIssues } from '../zod-issues.js';
import { isApprover, repoOwner } from './approval.js';
import { fleetLocked, MARKERS, planComment, planFailedComment, refusalComment } from './messages.js';
import { specPath, specYaml, terraformPath } from './pull-request.js';
import type { IssueOpsContext, IssueOpsGitHub, PullRequestInfo } from './types.js';

/**
 * Plans a request's PR head: the fleet lock is (re)taken, the head's files are checked to be exactly
 * what fleetbot synthesizes, terraform saves a plan for that SHA, and the plan comment and check run say so.
 */

export const CHECK_NAME = 'fleetbot/plan';

/** The plan's share of the time to the plan comment, logged with it (`plan posted`). */
export interface PlanTimings {
  synthMs: number;
  initMs: number;
  planMs: number;
  showMs: number;
  commentMs: number;
}

/** A request that may be planned, its pull request open. */
interface PlanTarget {
  request: UnplannedRequest | PlannedRequest;
  github: IssueOpsGitHub;
  pull: PullRequestInfo;
}

type Verified = { ok: true; terraformJson: string; synthMs: number } | { ok: false; reason: string };

/** Plans the PR head unless a plan for it stands: after a publish, a push, a reopen or a restart. */
export async function planHead(ctx: IssueOpsContext, repo: string, issueNumber: number): Promise<void> {
  const target = await planTarget(ctx, repo, issueNumber);
  if (!target) return;
  const { request, pull } = target;
  if (request.status === 'planned' && request.plannedSha === pull.headSha) return;
  await makePlan(ctx, target);
}

/** `/plan`: the requester or an approver asks for a new plan of the head, even if one stands. */
export async function replanOnRequest(ctx: IssueOpsContext, repo: string, issueNumber: number, prNumber: number, login: string) {
  const request = await ctx.store.getRequest(repo, issueNumber);
  if (!request || request.status === 'applying' || request.status === 'applied' || request.status === 'closed') return;
  const github = await ctx.github(request.installationId);
  const allowed =
    login.toLowerCase() === request.author.toLowerCase() || (await isApprover(login, ctx.settings.approvers, repoOwner(repo), github));
  if (!allowed) {
    await github.comment(prNumber, refusalComment(login, 'only the requester or an approver can ask for a new plan.'));
    return;
  }
  const target = await planTarget(ctx, repo, issueNumber);
  if (target) await makePlan(ctx, target);
}

async function planTarget(ctx: IssueOpsContext, repo: string, issueNumber: number): Promise<PlanTarget | undefined> {
  const request = await ctx.store.getRequest(repo, issueNumber);
  // A closed request plans again only if its pull request was reopened (checked below).
  if (!request || request.status === 'applying' || request.status === 'applied' || request.status === 'invalid') return undefined;
  const github = await ctx.github(request.installationId);
  const pull = await github.getPull(request.prNumber);
  return pull.state === 'open' ? { request, github, pull } : undefined;
}

async function makePlan(ctx: IssueOpsContext, { request, github, pull }: PlanTarget): Promise<void> {
  const { store } = ctx;
  const sha = pull.headSha;
  const planning: UnplannedRequest = { ...request, status: 'planning', updatedAt: ctx.now() };
  await store.saveRequest(planning);
  const lock = await store.acquireFleetLock(planning.fleet, planning.repo, planning.issueNumber, ctx.now());
  if (lock.repo !== planning.repo || lock.issueNumber !== planning.issueNumber) {
    await planFailed(ctx, github, planning, sha, fleetLocked.plan(planning.fleet, lock.issueNumber));
    return;
  }
  // The check run is created while the head is checked and planned (writes are paced by GitHub).
  const check = github.startCheck(sha, CHECK_NAME, `Planning ${sha.slice(0, 7)}`);
  check.catch(() => undefined);
  const verified = await verifyHead(ctx, github, planning, pull);
  if (!verified.ok) {
    await planFailed(ctx, github, planning, sha, verified.reason, undefined, await check);
    return;
  }
  let planned;
  try {
    planned = await ctx.workspace.plan(planning.fleet, verified.terraformJson, sha, planning.kind === 'delete');
  } catch (error) {
    if (!(error instanceof TerraformError)) throw error;
    ctx.log.warn({ fleet: planning.fleet, sha, exitCode: error.exitCode }, 'terraform plan failed');
    const reason = `\`${error.command}\` failed${error.timedOut ? ' (timed out)' : ''}:`;
    await planFailed(ctx, github, planning, sha, reason, error.tail, await check);
    return;
  }
  await postPlan(ctx, { request: planning, github, pull }, planned, await check, verified.synthMs);
}

/** The saved plan, told on the check run and in the plan comment; the request then awaits /approve. */
async function postPlan(
  ctx: IssueOpsContext,
  { request, github, pull }: PlanTarget,
  planned: Awaited<ReturnType<IssueOpsContext['workspace']['plan']>>,
  checkId: number,
  synthMs: number,
): Promise<void> {
  const { fleet, prNumber } = request;
  const { summary } = planned.result;
  const sha = pull.headSha;
  const commentStarted = ctx.now();
  await github.completeCheck(checkId, 'success', summary, `Saved plan for ${sha}: ${summary}`);
  const text = redactSecrets(planned.result.text, ctx.secrets);
  await github.upsertComment(prNumber, MARKERS.plan, planComment({ sha, summary, text, kind: request.kind, fleet }));
  const plannedAt = ctx.now();
  await ctx.store.saveRequest({
    ...request,
    status: 'planned',
    detail: null,
    plannedSha: sha,
    planFile: planned.planFile,
    plannedAt,
    planSummary: summary,
    updatedAt: ctx.now(),
  });
  const { durationsMs } = planned.result;
  const timings: PlanTimings = {
    synthMs,
    initMs: planned.initMs,
    planMs: durationsMs.plan,
    showMs: durationsMs.show,
    commentMs: plannedAt - commentStarted,
  };
  ctx.log.info({ fleet, issue: request.issueNumber, pr: prNumber, sha, summary, timings }, 'plan posted');
}

/**
 * The head must hold exactly what fleetbot synthesizes from the head's own fleet spec (create), or
 * no longer hold the fleet's files (delete): a hand-edited Terraform file is never planned, because
 * planning runs providers and data sources on this host.
 */
async function verifyHead(
  ctx: IssueOpsContext,
  github: IssueOpsGitHub,
  request: UnplannedRequest,
  pull: PullRequestInfo,
): Promise<Verified> {
  const { fleet } = request;
  const sha = pull.headSha;
  const contents = await checkPullContents(github, request, pull);
  if (!contents.ok) return contents;
  const [specText, committedJson] = await Promise.all([github.readFile(specPath(fleet), sha), github.readFile(terraformPath(fleet), sha)]);
  const started = ctx.now();
  if (request.kind === 'delete') {
    if (specText !== undefined || committedJson !== undefined) {
      const path = specText !== undefined ? specPath(fleet) : terraformPath(fleet);
      return { ok: false, reason: `this deletion's head still has \`${path}\`; it must remove the fleet's files.` };
    }
    const provisioned = (await ctx.store.provisionedFleets()).find((entry) => entry.name === fleet);
    if (!provisioned) return { ok: false, reason: `fleet \`${fleet}\` is not a fleet applied by IssueOps (any more).` };
    return { ok: true, terraformJson: ctx.synthesize(provisioned.requested, ctx.synthSettings), synthMs: ctx.now() - started };
  }
  if (specText === undefined || committedJson === undefined) {
    return { ok: false, reason: `the head has no \`${specText === undefined ? specPath(fleet) : terraformPath(fleet)}\`.` };
  }
  const spec = readSpec(fleet, specText);
  if (!spec.ok) return spec;
  const terraformJson = ctx.synthesize(spec.spec, ctx.synthSettings);
  if (terraformJson !== committedJson) {
    return {
      ok: false,
      reason:
        `\`${terraformPath(fleet)}\` is not what fleetbot synthesizes from \`${specPath(fleet)}\`. ` +
        `fleetbot plans only its own synthesis: change the fleet by editing the request issue #${request.issueNumber}.`,
    };
  }
  return { ok: true, terraformJson, synthMs: ctx.now() - started };
}

/**
 * The pull request changes nothing but the request's two generated paths, and (a creation) its fleet spec
 * is the one validated from the request issue: anything else pushed to the branch would be merged
 * unreviewed by the plan's approval. Checked before a plan and again at `/approve`.
 */
export async function checkPullContents(
  github: IssueOpsGitHub,
  request: PublishedRequest,
  pull: Pick<PullRequestInfo, 'baseRef' | 'headSha'>,
): Promise<{ ok: true; authors: string[] } | { ok: false; reason: string }> {
  const { fleet } = request;
  const allowed = [specPath(fleet), terraformPath(fleet)];
  const { files, authors } = await github.compare(pull.baseRef, pull.headSha);
  const others = files.filter((path) => !allowed.includes(path));
  if (others.length > 0) {
    const listed = others.slice(0, 5).map((path) => `\`${path}\``);
    return {
      ok: false,
      reason:
        `the pull request changes ${listed.join(', ')}${others.length > 5 ? ` and ${others.length - 5} more` : ''}; ` +
        `a fleet request may change only \`${allowed[0]}\` and \`${allowed[1]}\`. Remove the other changes from the branch.`,
    };
  }
  if (request.kind === 'create' && (await github.readFile(specPath(fleet), pull.headSha)) !== specYaml(request.spec)) {
    return {
      ok: false,
      reason:
        `\`${specPath(fleet)}\` is not the fleet validated from the request issue #${request.issueNumber}; ` +
        'change the fleet by editing the request issue, not the branch.',
    };
  }
  return { ok: true, authors };
}

/** The head's fleet spec, which must be the request's fleet with its `provision` section. */
function readSpec(fleet: string, text: string): { ok: true; spec: FleetSpec } | { ok: false; reason: string } {
  const path = specPath(fleet);
  let parsed;
  try {
    parsed = fleetSpecSchema.safeParse(parseYaml(text));
  } catch (error) {
    return { ok: false, reason: `\`${path}\` is not valid YAML: ${(error as Error).message}` };
  }
  if (!parsed.success) return { ok: false, reason: `\`${path}\` is not a valid fleet: ${formatZodIssues(parsed.error).join('; ')}` };
  if (parsed.data.name !== fleet || !parsed.data.provision) {
    return { ok: false, reason: `\`${path}\` must describe fleet \`${fleet}\` with its \`provision\` section.` };
  }
  return { ok: true, spec: parsed.data };
}

async function planFailed(
  ctx: IssueOpsContext,
  github: IssueOpsGitHub,
  request: UnplannedRequest,
  sha: string,
  reason: string,
  tail?: string,
  checkId?: number,
): Promise<void> {
  if (checkId !== undefined) await github.completeCheck(checkId, 'failure', 'No plan', reason);
  await github.upsertComment(request.prNumber, MARKERS.plan, planFailedComment(sha, reason, tail));
  const failed: UnplannedRequest = {
    ...request,
    status: 'plan_failed',
    detail: reason,
    plannedSha: null,
    planFile: null,
    updatedAt: ctx.now(),
  };
  await ctx.store.saveRequest(failed);
}
