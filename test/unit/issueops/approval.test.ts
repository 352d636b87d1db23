import { checkApprovalRequest, describeApprovers, isApprover, type ApprovalFacts } from '../../../src/issueops/approval.js';
import { parseCommand } from '../../../src/issueops/commands.js';
import type { FleetRequestRecord } from '../../../src/store/types.js';
import { ecsFleet } from '../../helpers/fleets.js';

const planned: FleetRequestRecord = {
  repo: 'acme/runner-fleets',
  issueNumber: 7,
  kind: 'create',
  installationId: 1,
  author: 'requester',
  fleet: 'linux-small',
  status: 'planned',
  detail: null,
  spec: ecsFleet(),
  prNumber: 8,
  branch: 'fleetbot/fleet-linux-small',
  plannedSha: 'a'.repeat(40),
  planFile: '/tmp/plan',
  plannedAt: 1_000,
  planSummary: 'Plan: 9 to add, 0 to change, 0 to destroy.',
  appliedSha: null,
  createdAt: 1,
  updatedAt: 1,
};

function facts(overrides: Partial<ApprovalFacts> = {}, request: Partial<FleetRequestRecord> = {}): ApprovalFacts {
  return {
    // Any status, with the planned request's fields: what the store could hold if a status forgot one.
    request: { ...planned, ...request } as FleetRequestRecord,
    command: { kind: 'approve' },
    commenter: { login: 'approver', type: 'User' },
    commentedAt: 2_000,
    pull: { state: 'open', headSha: 'a'.repeat(40) },
    lock: { fleet: 'linux-small', repo: 'acme/runner-fleets', issueNumber: 7, acquiredAt: 1 },
    changers: [],
    ...overrides,
  };
}

function reason(verdict: ReturnType<typeof checkApprovalRequest>): string {
  if (verdict.allowed) throw new Error('expected a refusal');
  return verdict.reason;
}

describe('commands in pull request comments', () => {
  it('reads only an exact first line', () => {
    expect(parseCommand('/approve')).toEqual({ kind: 'approve' });
    expect(parseCommand('/approve\r\nlooks good')).toEqual({ kind: 'approve' });
    expect(parseCommand('/approve destroy gpu')).toEqual({ kind: 'approve-destroy', fleet: 'gpu' });
    expect(parseCommand('/plan')).toEqual({ kind: 'plan' });
    expect(parseCommand('please /approve')).toBeUndefined();
    expect(parseCommand('/approved')).toBeUndefined();
    expect(parseCommand('/approve destroy GPU; rm -rf /')).toBeUndefined();
    expect(parseCommand('LGTM\n/approve')).toBeUndefined();
  });
});

describe('whether an /approve may apply the plan', () => {
  it('allows an approval of the planned head, written after the plan', () => {
    expect(checkApprovalRequest(facts())).toEqual({ allowed: true });
  });

  it('refuses anyone who changed the request after it was filed, whatever the case of their login', () => {
    expect(reason(checkApprovalRequest(facts({ changers: ['Approver'] })))).toMatch(/you changed this request after it was filed/);
    expect(checkApprovalRequest(facts({ changers: ['someone-else'] }))).toEqual({ allowed: true });
  });

  it('refuses the requester approving their own request, whatever the case of their login', () => {
    expect(reason(checkApprovalRequest(facts({ commenter: { login: 'Requester', type: 'User' } })))).toMatch(
      /you opened the request \(#7\)/,
    );
  });

  it('refuses when the head moved after the plan', () => {
    expect(reason(checkApprovalRequest(facts({ pull: { state: 'open', headSha: 'b'.repeat(40) } })))).toMatch(
      /head moved to `bbbbbbb` after the plan for `aaaaaaa`/,
    );
  });

  it("refuses a comment written before the current plan was posted, at GitHub's one-second precision", () => {
    expect(reason(checkApprovalRequest(facts({ commentedAt: 999 })))).toMatch(/plan was replaced after you wrote your comment/);
    expect(checkApprovalRequest(facts({ commentedAt: 5_000 }, { plannedAt: 5_800 }))).toEqual({ allowed: true });
    expect(reason(checkApprovalRequest(facts({ commentedAt: 4_000 }, { plannedAt: 5_800 })))).toMatch(/plan was replaced/);
  });

  it('refuses the wrong command for the kind of request', () => {
    expect(reason(checkApprovalRequest(facts({ command: { kind: 'approve-destroy', fleet: 'linux-small' } })))).toMatch(
      /approve it with `\/approve`/,
    );
    const deletion = { kind: 'delete' as const };
    expect(reason(checkApprovalRequest(facts({}, deletion)))).toMatch(/approve it with `\/approve destroy linux-small`/);
    expect(reason(checkApprovalRequest(facts({ command: { kind: 'approve-destroy', fleet: 'other' } }, deletion)))).toMatch(
      /destroys fleet `linux-small`/,
    );
    expect(checkApprovalRequest(facts({ command: { kind: 'approve-destroy', fleet: 'linux-small' } }, deletion))).toEqual({
      allowed: true,
    });
  });

  it('refuses without a usable plan, saying why', () => {
    expect(reason(checkApprovalRequest(facts({}, { status: 'planning' })))).toMatch(/still being made/);
    expect(reason(checkApprovalRequest(facts({}, { status: 'plan_failed', detail: 'terraform plan failed' })))).toMatch(
      /no valid plan \(terraform plan failed\)/,
    );
    expect(reason(checkApprovalRequest(facts({}, { status: 'apply_failed' })))).toMatch(/last apply failed; a new plan is needed/);
    expect(reason(checkApprovalRequest(facts({}, { status: 'invalid' })))).toMatch(/#7 no longer validates/);
    expect(reason(checkApprovalRequest(facts({}, { status: 'applying' })))).toMatch(/already under way/);
  });

  it('refuses on a closed pull request, or without the fleet lock', () => {
    expect(reason(checkApprovalRequest(facts({ pull: { state: 'closed', headSha: 'a'.repeat(40) } })))).toMatch(/closed/);
    expect(reason(checkApprovalRequest(facts({ lock: undefined })))).toMatch(/does not hold the lock/);
    expect(
      reason(checkApprovalRequest(facts({ lock: { fleet: 'linux-small', repo: 'acme/runner-fleets', issueNumber: 9, acquiredAt: 1 } }))),
    ).toMatch(/#9 does/);
  });
});

describe('who is an approver', () => {
  const approvers = { roles: ['admin', 'maintain'], teams: ['platform', 'other-org/sre'] };
  const lookups = (role: string, teams: string[]) => ({
    roleOf: async () => role,
    isTeamMember: async (org: string, team: string) => teams.includes(`${org}/${team}`),
  });

  it('accepts a listed repository role', async () => {
    await expect(isApprover('x', approvers, 'acme', lookups('maintain', []))).resolves.toBe(true);
    await expect(isApprover('x', approvers, 'acme', lookups('write', []))).resolves.toBe(false);
  });

  it("accepts members of approver teams, in the repository owner's org unless another is named", async () => {
    await expect(isApprover('x', approvers, 'acme', lookups('read', ['acme/platform']))).resolves.toBe(true);
    await expect(isApprover('x', approvers, 'acme', lookups('read', ['other-org/sre']))).resolves.toBe(true);
    await expect(isApprover('x', approvers, 'acme', lookups('read', ['other-org/platform']))).resolves.toBe(false);
  });

  it('describes the rule without mentioning (and so paging) teams', () => {
    expect(describeApprovers(approvers)).toBe('a repository role of admin or maintain, or membership of `platform` or `other-org/sre`');
    expect(describeApprovers({ roles: [], teams: [] })).toMatch(/nobody/);
  });
});
