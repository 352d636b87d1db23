import { pino } from 'pino';
import { FleetRegistry } from '../../src/fleets/registry.js';
import type { FleetSpec } from '../../src/fleets/spec.js';
import { IssueOps } from '../../src/issueops/service.js';
import { issueOpsSettingsSchema } from '../../src/issueops/settings.js';
import { loadIssueForms } from '../../src/issueops/templates.js';
import type { IssueCommentPayload, IssueOpsDeps, IssuesPayload, PullRequestPayload } from '../../src/issueops/types.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { FleetRequestRecord } from '../../src/store/types.js';
import { FLEETS_REPO, fargateRequest } from './issueops.js';
import { MemoryIssueOpsGitHub } from './memory-issueops-github.js';

/** What a fleet's `terraform output -json` gives after an apply of an ECS fleet. */
export const ECS_OUTPUTS = {
  cluster: { value: 'fleetbot-cluster' },
  task_definition: { value: 'fleetbot-task:1' },
  container_name: { value: 'runner' },
  subnets: { value: ['subnet-0123abcd'] },
  security_groups: { value: ['sg-0123abcd'] },
};

export interface InMemoryIssueOps {
  issueOps: IssueOps;
  github: MemoryIssueOpsGitHub;
  store: SqliteStore;
  fleets: FleetRegistry;
  /** The workspace's calls, in order: `plan <fleet> <sha>[ destroy]`, `apply <fleet> <plan file>`, `discard <fleet>`. */
  terraform: string[];
  /** Files a request issue (by default a valid Fargate request) and waits until it is handled. */
  fileRequest(body?: string, labels?: string[]): Promise<{ issue: number; pr: number; request: FleetRequestRecord | undefined }>;
  /** Comments on a request's pull request and waits until the comment is handled. */
  comment(pr: number, body: string, user?: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * IssueOps wired to an in-memory GitHub, an in-memory SQLite store and a workspace that plans and
 * applies without terraform: for tests of the handlers that need no HTTP and no cloud.
 */
export async function inMemoryIssueOps(
  options: { fileFleets?: FleetSpec[]; store?: SqliteStore; github?: MemoryIssueOpsGitHub; deps?: Partial<IssueOpsDeps> } = {},
): Promise<InMemoryIssueOps> {
  const github = options.github ?? new MemoryIssueOpsGitHub(FLEETS_REPO);
  github.roles.set('approver', 'maintain');
  const store = options.store ?? new SqliteStore(':memory:');
  const fleets = new FleetRegistry(options.fileFleets ?? []);
  const terraform: string[] = [];
  const settings = issueOpsSettingsSchema.parse({ repository: FLEETS_REPO, drainTimeoutSeconds: 0 });
  const issueOps = new IssueOps({
    settings,
    store: store.issueOps,
    jobs: store,
    fleets,
    workspace: {
      plan: async (fleet, _json, sha, destroy) => {
        terraform.push(`plan ${fleet} ${sha}${destroy ? ' destroy' : ''}`);
        const summary = destroy ? 'Plan: 0 to add, 0 to change, 9 to destroy.' : 'Plan: 9 to add, 0 to change, 0 to destroy.';
        return {
          planFile: `/plans/${fleet}/${sha}.tfplan`,
          result: { text: summary, summary, add: 9, change: 0, destroy: 0, durationsMs: { plan: 1, show: 1 } },
          initMs: 1,
        };
      },
      apply: async (fleet, planFile) => {
        terraform.push(`apply ${fleet} ${planFile}`);
        return ECS_OUTPUTS;
      },
      discardPlans: async (fleet) => {
        terraform.push(`discard ${fleet}`);
      },
    },
    forms: await loadIssueForms(),
    synthesize: (spec) => JSON.stringify({ fleet: spec.name, labels: spec.labels }),
    secrets: [],
    github: async () => github,
    log: pino({ level: 'silent' }),
    ...options.deps,
  });
  return {
    issueOps,
    github,
    store,
    fleets,
    terraform,
    fileRequest: async (body = fargateRequest('linux-build', 'subnet-0123abcd'), labels = ['fleet-request']) => {
      const issue = github.issueNumber();
      issueOps.onIssue(issuesPayload(issue, body, labels));
      await issueOps.idle();
      const request = await store.issueOps.getRequest(FLEETS_REPO, issue);
      return { issue, pr: request?.prNumber ?? -1, request };
    },
    comment: async (pr, body, user = 'approver') => {
      await issueOps.onComment(commentPayload(pr, body, user));
      await issueOps.idle();
    },
    close: () => store.close(),
  };
}

export function issuesPayload(number: number, body: string, labels: string[], action = 'opened', user = 'requester'): IssuesPayload {
  return {
    action,
    issue: { number, state: 'open', body, user: { login: user, type: 'User' }, labels: labels.map((name) => ({ name })) },
    repository: { full_name: FLEETS_REPO },
    installation: { id: 1 },
    sender: { login: user, type: 'User' },
  };
}

export function commentPayload(pr: number, body: string, user = 'approver', type = 'User'): IssueCommentPayload {
  return {
    action: 'created',
    issue: { number: pr, pull_request: {} },
    comment: { body, user: { login: user, type }, created_at: new Date(Date.now() + 1000).toISOString() },
    repository: { full_name: FLEETS_REPO },
    installation: { id: 1 },
  };
}

export function pullRequestPayload(pr: number, action: string, mergedBy?: string): PullRequestPayload {
  return {
    action,
    pull_request: { number: pr, merged: mergedBy !== undefined, head: { sha: '' }, merged_by: mergedBy ? { login: mergedBy } : null },
    repository: { full_name: FLEETS_REPO },
    installation: { id: 1 },
  };
}
