import { liveFleetSpec } from '../fleets/live-spec.js';
import type { FleetSpec } from '../fleets/spec.js';
import { errorFields } from '../errors.js';
import type { PlannedRequest } from '../store/types.js';
import { redactSecrets } from '../terraform/redact.js';
import { TerraformError } from '../terraform/types.js';
import { CHANGED_IT, changedRequest, checkApprovalRequest, describeApprovers, isApprover, repoOwner } from './approval.js';
import type { Command } from './commands.js';
import { drain, undrain } from './drain.js';
import { checkPullContents } from './plan.js';
import {
  alreadyAppliedComment,
  appliedComment,
  applyFailedComment,
  fleetDeletedComment,
  fleetReadyComment,
  refusalComment,
  undrainedNote,
} from './messages.js';
import type { IssueOpsContext, IssueOpsGitHub } from './types.js';

/**
 * `/approve` (or `/approve destroy <fleet>`): an allowed approver's comment, on the head that was
 * planned, applies exactly the saved plan; the fleet is recorded, the PR merged and the issue closed.
 */

/** `terraform output -json`, as the fleet's live spec is read from it. */
type FleetOutputs = Record<string, { value: unknown }>;

export interface Approval {
  command: Exclude<Command, { kind: 'plan' }>;
  commenter: { login: string; type: string };
  /** When the comment was written (ms). */
  commentedAt: number;
}

export async function approve(ctx: IssueOpsContext, repo: string, issueNumber: number, approval: Approval): Promise<void> {
  const { store, log } = ctx;
  const { commenter } = approval;
  const request = await store.getRequest(repo, issueNumber);
  if (!request || request.prNumber === null || request.fleet === null) return;
  const github = await ctx.github(request.installationId);
  const { prNumber } = request;
  const refuse = async (reason: string) => {
    log.info({ fleet: request.fleet, pr: prNumber, user: commenter.login, reason }, 'approval refused');
    await github.comment(prNumber, refusalComment(commenter.login, reason));
  };
  if (request.status === 'applied') {
    await github.comment(prNumber, alreadyAppliedComment(commenter.login, request.appliedSha));
    return;
  }
  if (!(await isApprover(commenter.login, ctx.settings.approvers, repoOwner(repo), github))) {
    await refuse(`you are not an approver: approving needs ${describeApprovers(ctx.settings.approvers)}.`);
    return;
  }
  const [pull, locks, changers] = await Promise.all([
    github.getPull(prNumber),
    store.fleetLocks(),
    store.requestChangers(request.repo, request.issueNumber),
  ]);
  const lock = locks.find((entry) => entry.fleet === request.fleet);
  const verdict = checkApprovalRequest({ ...approval, request, pull, lock, changers });
  if (!verdict.allowed) {
    await refuse(verdict.reason);
    return;
  }
  // An allowed approval is of a planned request.
  if (request.status !== 'planned') return;
  const contents = await checkPullContents(github, request, pull);
  if (!contents.ok) {
    await refuse(contents.reason);
    return;
  }
  // A commit on the branch by the approver (whoever pushed it) makes them a requester too.
  if (changedRequest(commenter.login, contents.authors)) {
    await refuse(CHANGED_IT);
    return;
  }
  await apply(ctx, github, request, commenter.login);
}

/** Applies the saved plan, records the fleet, merges with the planned SHA and closes the issue. */
async function apply(ctx: IssueOpsContext, github: IssueOpsGitHub, request: PlannedRequest, approver: string): Promise<void> {
  const { store, log } = ctx;
  const { fleet, prNumber, plannedSha: sha } = request;
  const started = ctx.now();
  const applying: PlannedRequest = { ...request, status: 'applying', detail: `approved by ${approver}`, updatedAt: ctx.now() };
  await store.saveRequest(applying);
  log.info({ fleet, pr: prNumber, sha, approver }, 'applying the saved plan');
  try {
    await applyAndMerge(ctx, github, applying, started);
  } catch (error) {
    // Whatever went wrong, the request does not stay `applying`: it fails, and says so on the PR.
    if ((await store.getRequest(request.repo, request.issueNumber))?.status !== 'applying') throw error;
    log.error({ fleet, pr: prNumber, sha, err: errorFields(error) }, 'apply failed');
    const message = redactSecrets(errorFields(error).message, ctx.secrets);
    await failApply(
      ctx,
      github,
      applying,
      `the apply did not finish: ${message}`,
      `### ❌ Apply of \`${sha.slice(0, 7)}\` did not finish\n\n` +
        `fleetbot failed during the apply: ${message}\n\nNothing was merged. Terraform's state says what was done; ` +
        'comment `/plan` for a new plan, review it and approve again.',
    );
  }
}

/** Applies, records the fleet, merges and closes the issue; anything thrown leaves the request `applying` for the caller. */
async function applyAndMerge(ctx: IssueOpsContext, github: IssueOpsGitHub, applying: PlannedRequest, started: number): Promise<void> {
  const { store, log } = ctx;
  const { fleet, prNumber, plannedSha: sha } = applying;
  const request = applying;
  const applied = await applyPlan(ctx, github, applying);
  if (!applied) return;
  const live = await recordFleet(ctx, applying, applied.outputs);
  const appliedMs = ctx.now() - started;

  let mergeProblem: string | undefined;
  try {
    await github.merge(prNumber, sha, `${request.kind === 'create' ? 'Create' : 'Delete'} runner fleet ${fleet} (#${prNumber})`);
  } catch (error) {
    mergeProblem = errorFields(error).message;
    log.warn({ fleet, pr: prNumber, err: errorFields(error) }, 'merge after apply failed');
  }
  await store.saveRequest({ ...applying, status: 'applied', appliedSha: sha, detail: mergeProblem ?? null, updatedAt: ctx.now() });
  await store.releaseFleetLock(fleet, request.repo, request.issueNumber);
  await ctx.workspace.discardPlans(fleet);
  await github.comment(prNumber, appliedComment(sha, request.kind, fleet, mergeProblem === undefined, mergeProblem));
  const ready = live && (ctx.fleets.get(fleet) ?? live);
  const closing = ready ? fleetReadyComment(ready, prNumber) : fleetDeletedComment(fleet, prNumber, applied.droppedJobs);
  await github.comment(request.issueNumber, closing);
  await github.closeIssue(request.issueNumber, 'completed');
  log.info({ fleet, pr: prNumber, sha, appliedMs, totalMs: ctx.now() - started, merged: !mergeProblem }, 'fleet request applied');
}

/** Drains a fleet that is to be destroyed, then applies; a failed apply is reported and ends the request's plan. */
async function applyPlan(
  ctx: IssueOpsContext,
  github: IssueOpsGitHub,
  request: PlannedRequest,
): Promise<{ outputs: FleetOutputs; droppedJobs: number } | undefined> {
  try {
    const droppedJobs = request.kind === 'delete' ? await drain(ctx, request.fleet) : 0;
    return { outputs: await ctx.workspace.apply(request.fleet, request.planFile), droppedJobs };
  } catch (error) {
    if (!(error instanceof TerraformError)) throw error;
    const sha = request.plannedSha;
    ctx.log.warn({ fleet: request.fleet, sha, exitCode: error.exitCode }, 'terraform apply failed');
    await failApply(
      ctx,
      github,
      request,
      `terraform apply failed (exit ${error.exitCode ?? 'killed'})`,
      applyFailedComment(sha, error.tail),
    );
    return undefined;
  }
}

/** A created fleet is stored and serves jobs (its live spec is returned); a destroyed one is forgotten. */
async function recordFleet(ctx: IssueOpsContext, request: PlannedRequest, outputs: FleetOutputs): Promise<FleetSpec | undefined> {
  const { store, fleets } = ctx;
  if (request.kind === 'delete') {
    await store.deleteProvisionedFleet(request.fleet);
    fleets.removeProvisioned(request.fleet);
    return undefined;
  }
  const live = liveFleetSpec(request.spec, outputs);
  await store.putProvisionedFleet({
    name: request.fleet,
    requested: request.spec,
    live,
    status: 'live',
    appliedSha: request.plannedSha,
    requestIssue: request.issueNumber,
    updatedAt: ctx.now(),
  });
  fleets.putProvisioned(live);
  return live;
}

/**
 * An apply that did not finish: nothing merges, the lock is released and a new plan is needed; a fleet
 * being destroyed takes jobs again.
 */
export async function failApply(
  ctx: IssueOpsContext,
  github: IssueOpsGitHub,
  request: PlannedRequest,
  detail: string,
  comment = `fleetbot: ${detail}`,
): Promise<void> {
  await ctx.store.saveRequest({ ...request, status: 'apply_failed', detail, plannedSha: null, planFile: null, updatedAt: ctx.now() });
  await ctx.store.releaseFleetLock(request.fleet, request.repo, request.issueNumber);
  await ctx.workspace.discardPlans(request.fleet);
  const undrained = request.kind === 'delete' && (await undrain(ctx, request.fleet));
  await github.comment(request.prNumber, undrained ? `${comment}\n\n${undrainedNote(request.fleet)}` : comment);
}
