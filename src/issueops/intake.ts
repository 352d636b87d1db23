import type { FleetLock, FleetRequestRecord, InvalidRequest, RequestKind, RequestSubject } from '../store/types.js';
import { repoOwner } from './approval.js';
import { parseIssueBody, type FieldProblem, type FieldValue } from './form.js';
import { acceptedRequestComment, fleetLocked, invalidRequestComment, MARKERS } from './messages.js';
import { planHead } from './plan.js';
import { publish, requestFiles } from './pull-request.js';
import { fleetNameConflict, validateDeleteRequest, validateFleetRequest } from './request.js';
import type { IssueOpsContext, IssueOpsGitHub } from './types.js';

/**
 * A request issue, opened or edited: its form is validated into a FleetSpec (or a deletion), every
 * problem listed in one comment on the issue; a valid request takes its fleet's lock, is published as a
 * pull request, and planned.
 */

export const LABELS = { request: 'fleet-request', delete: 'fleet-delete', invalid: 'fleet-invalid' } as const;

export interface RequestIssue {
  repo: string;
  issueNumber: number;
  kind: RequestKind;
  installationId: number;
  author: string;
  body: string;
  labels: string[];
  /** Who edited the issue, when someone other than its author did: they may not approve it. */
  editedBy?: string;
}

/** Intake's own share of the time to the plan comment; plan.ts logs the rest with the plan. */
export interface PublishTimings {
  validateMs: number;
  synthMs: number;
  publishMs: number;
}

type Validation = { ok: true; fleet: string; subject: RequestSubject } | { ok: false; fleet?: string; problems: FieldProblem[] };

export async function handleRequest(ctx: IssueOpsContext, input: RequestIssue): Promise<void> {
  const { store, log } = ctx;
  const started = ctx.now();
  const github = await ctx.github(input.installationId);
  if (input.editedBy) await store.addRequestChanger(input.repo, input.issueNumber, input.editedBy, ctx.now());
  const existing = await store.getRequest(input.repo, input.issueNumber);
  if (existing && (existing.status === 'applying' || existing.status === 'applied')) {
    log.info({ issue: input.issueNumber, status: existing.status }, 'request already applied or applying; edit ignored');
    return;
  }
  const locks = await store.fleetLocks();
  const validation = validateRequest(ctx, input, existing, locks);
  const record: FleetRequestRecord = { ...(existing ?? newRequest(ctx, input)), installationId: input.installationId };
  if (!validation.ok) {
    log.info({ issue: input.issueNumber, problems: validation.problems.length }, 'fleet request is invalid');
    await refuse(ctx, github, record, validation.problems, `${validation.problems.length} invalid field(s)`);
    return;
  }
  const validateMs = ctx.now() - started;
  const { fleet, subject } = validation;
  const lock = await store.acquireFleetLock(fleet, input.repo, input.issueNumber, ctx.now());
  if (lock.repo !== input.repo || lock.issueNumber !== input.issueNumber) {
    const message = fleetLocked.request(fleet, lock.issueNumber);
    await refuse(ctx, github, record, [{ field: 'Fleet name', message }], message);
    return;
  }
  const synthStarted = ctx.now();
  const files = requestFiles(ctx, fleet, subject);
  const synthMs = ctx.now() - synthStarted;
  const publishStarted = ctx.now();
  const pull = await publish(github, { issueNumber: input.issueNumber, fleet, subject, prNumber: record.prNumber }, files);
  const published = { fleet, ...subject, detail: null, prNumber: pull.number, branch: pull.headRef, updatedAt: ctx.now() };
  // An edit that left the files as they were (only the justification changed, say) keeps its plan.
  const saved: FleetRequestRecord =
    record.status === 'planned' && record.plannedSha === pull.headSha
      ? { ...record, ...published, status: 'planned' }
      : { ...record, ...published, status: 'planning' };
  await store.saveRequest(saved);
  const timings: PublishTimings = { validateMs, synthMs, publishMs: ctx.now() - publishStarted };
  log.info({ fleet, issue: input.issueNumber, pr: pull.number, sha: pull.headSha, timings }, 'request published');
  // The issue's label and comment are written while terraform plans: GitHub paces writes about a
  // second apart, and the plan need not wait for them.
  const tellIssue = async () => {
    if (input.labels.includes(LABELS.invalid)) await github.removeLabel(input.issueNumber, LABELS.invalid);
    await github.upsertComment(input.issueNumber, MARKERS.request, acceptedRequestComment(subject.kind, fleet, pull.htmlUrl, pull.number));
  };
  const results = await Promise.allSettled([tellIssue(), planHead(ctx, saved.repo, saved.issueNumber)]);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}

function newRequest(ctx: IssueOpsContext, input: RequestIssue): InvalidRequest {
  return {
    repo: input.repo,
    issueNumber: input.issueNumber,
    kind: input.kind,
    installationId: input.installationId,
    author: input.author,
    fleet: null,
    status: 'invalid',
    detail: null,
    spec: null,
    prNumber: null,
    branch: null,
    plannedSha: null,
    planFile: null,
    plannedAt: null,
    planSummary: null,
    appliedSha: null,
    createdAt: ctx.now(),
    updatedAt: ctx.now(),
  };
}

/** The problems are the issue's to fix: labelled, listed in one comment, and recorded. */
async function refuse(
  ctx: IssueOpsContext,
  github: IssueOpsGitHub,
  record: FleetRequestRecord,
  problems: FieldProblem[],
  detail: string,
): Promise<void> {
  await github.addLabel(record.issueNumber, LABELS.invalid);
  await github.upsertComment(record.issueNumber, MARKERS.request, invalidRequestComment(problems));
  await ctx.store.saveRequest({ ...record, status: 'invalid', detail, updatedAt: ctx.now() });
}

function validateRequest(
  ctx: IssueOpsContext,
  input: RequestIssue,
  existing: FleetRequestRecord | undefined,
  locks: readonly FleetLock[],
): Validation {
  const othersLocks = locks.filter((lock) => !(lock.repo === input.repo && lock.issueNumber === input.issueNumber));
  const parsed = parseIssueBody(input.body, input.kind === 'create' ? ctx.forms.request : ctx.forms.delete);
  if (!parsed.ok) return parsed;
  const validation =
    input.kind === 'create'
      ? validateCreation(ctx, input.issueNumber, parsed.values, othersLocks)
      : validateDeletion(ctx, parsed.values, othersLocks);
  const { fleet } = validation;
  if (fleet !== undefined && existing?.fleet && existing.prNumber !== null && existing.fleet !== fleet && existing.status !== 'closed') {
    const message =
      `cannot change from "${existing.fleet}" once pull request #${existing.prNumber} is open; ` + 'close it and file a new request';
    return { ok: false, fleet, problems: [{ field: 'Fleet name', message }] };
  }
  return validation;
}

function validateCreation(
  ctx: IssueOpsContext,
  issueNumber: number,
  values: Record<string, FieldValue | undefined>,
  locks: readonly FleetLock[],
): Validation {
  const result = validateFleetRequest(values, {
    defaults: ctx.settings.defaults,
    requestIssue: issueNumber,
    warmPoolOwner: repoOwner(ctx.settings.repository),
    nameTaken: (name) => fleetNameConflict(name, { fleets: ctx.fleets.all().map((fleet) => fleet.name), locks }),
  });
  if (!result.ok) return result;
  return { ok: true, fleet: result.spec.name, subject: { kind: 'create', spec: result.spec } };
}

/** A deletion names a fleet applied by IssueOps, which no other request may hold. */
function validateDeletion(ctx: IssueOpsContext, values: Record<string, FieldValue | undefined>, locks: readonly FleetLock[]): Validation {
  const result = validateDeleteRequest(values, { fleetExists: (name) => ctx.fleets.isProvisioned(name) });
  if (!result.ok) return result;
  const fleet = result.name;
  const lock = locks.find((entry) => entry.fleet === fleet);
  if (lock) return { ok: false, fleet, problems: [{ field: 'Fleet name', message: fleetLocked.request(fleet, lock.issueNumber) }] };
  return { ok: true, fleet, subject: { kind: 'delete', spec: null } };
}
