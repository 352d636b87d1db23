import type { FleetLock, FleetRequestRecord } from '../store/types.js';
import type { Command } from './commands.js';
import type { IssueOpsSettings } from './settings.js';

/**
 * Whether an /approve may apply the saved plan. Each check that fails returns the reason the approver
 * reads in the refusal comment; internal errors are thrown instead and only logged.
 */

export interface ApprovalFacts {
  request: FleetRequestRecord;
  command: Exclude<Command, { kind: 'plan' }>;
  commenter: { login: string; type: string };
  /** When the /approve comment was written (ms). */
  commentedAt: number;
  pull: { state: 'open' | 'closed'; headSha: string };
  lock: FleetLock | undefined;
  /** Who changed the request after it was filed: edited its issue, pushed to its branch, or wrote a commit on it. */
  changers: readonly string[];
}

export type Verdict = { allowed: true } | { allowed: false; reason: string };

export function checkApprovalRequest(facts: ApprovalFacts): Verdict {
  const { request, command, pull } = facts;
  const fleet = request.fleet ?? '';
  if (pull.state !== 'open') return deny('this pull request is closed.');
  if (request.kind === 'create' && command.kind !== 'approve') {
    return deny(`this pull request creates fleet \`${fleet}\`: approve it with \`/approve\`.`);
  }
  if (request.kind === 'delete' && (command.kind !== 'approve-destroy' || command.fleet !== fleet)) {
    return deny(`this pull request destroys fleet \`${fleet}\`: approve it with \`/approve destroy ${fleet}\`.`);
  }
  if (facts.commenter.login.toLowerCase() === request.author.toLowerCase()) {
    return deny(`you opened the request (#${request.issueNumber}); someone else must approve it.`);
  }
  if (changedRequest(facts.commenter.login, facts.changers)) return deny(CHANGED_IT);
  switch (request.status) {
    case 'planned':
      break;
    case 'planning':
      return deny('a plan is still being made for the latest head; wait for the plan comment, review it, and approve again.');
    case 'plan_failed':
      return deny(`there is no valid plan (${request.detail ?? 'the last plan failed'}).`);
    case 'apply_failed':
      return deny('the last apply failed; a new plan is needed (push a fix, edit the request, or comment `/plan`).');
    case 'invalid':
      return deny(`the request issue #${request.issueNumber} no longer validates; see its comments.`);
    case 'applying':
      return deny('an apply is already under way.');
    default:
      return deny(`the request is ${request.status}.`);
  }
  if (!facts.lock || facts.lock.repo !== request.repo || facts.lock.issueNumber !== request.issueNumber) {
    return deny(
      `this request does not hold the lock of fleet \`${fleet}\`` +
        `${facts.lock ? ` (#${facts.lock.issueNumber} does)` : ''}; a new plan takes it.`,
    );
  }
  if (pull.headSha !== request.plannedSha) {
    return deny(
      `the pull request head moved to \`${pull.headSha.slice(0, 7)}\` after the plan for \`${(request.plannedSha ?? '').slice(0, 7)}\`; ` +
        'a new plan is on its way: review it and approve again.',
    );
  }
  // GitHub stamps comments to the second, so the plan's time is compared at that precision.
  if (request.plannedAt !== null && facts.commentedAt < Math.floor(request.plannedAt / 1000) * 1000) {
    return deny('the plan was replaced after you wrote your comment; review the current plan and approve again.');
  }
  return { allowed: true };
}

/** Whether the commenter may approve: a repository role in `roles`, or membership of an approver team. */
export async function isApprover(
  login: string,
  approvers: IssueOpsSettings['approvers'],
  repoOwner: string,
  lookups: { roleOf(login: string): Promise<string>; isTeamMember(org: string, team: string, login: string): Promise<boolean> },
): Promise<boolean> {
  const role = await lookups.roleOf(login);
  if (approvers.roles.includes(role)) return true;
  for (const team of approvers.teams) {
    const [org, slug] = team.includes('/') ? team.split('/') : [repoOwner, team];
    if (await lookups.isTeamMember(org, slug, login)) return true;
  }
  return false;
}

export function describeApprovers(approvers: IssueOpsSettings['approvers']): string {
  const roles = approvers.roles.length > 0 ? `a repository role of ${approvers.roles.join(' or ')}` : '';
  const teams = approvers.teams.length > 0 ? `membership of ${approvers.teams.map((team) => `\`${team}\``).join(' or ')}` : '';
  return [roles, teams].filter(Boolean).join(', or ') || 'nobody (no approvers are configured)';
}

/** The organisation (or user) that owns `owner/name`: where a team without an org is looked for. */
export function repoOwner(repo: string): string {
  return repo.split('/')[0];
}

/** The refusal of an approver who changed the request: they are a requester too. */
export const CHANGED_IT =
  'you changed this request after it was filed (edited its issue, or pushed or wrote a commit on its branch); ' +
  'someone else must approve it.';

/** Whether `login` is among those who changed the request (GitHub logins are case-insensitive). */
export function changedRequest(login: string, changers: readonly string[]): boolean {
  return changers.some((changer) => changer.toLowerCase() === login.toLowerCase());
}

function deny(reason: string): Verdict {
  return { allowed: false, reason };
}
