import { createRequire } from 'node:module';
import type { FakeGitHub } from './fake-github.js';
import type { IssueChanges, Json } from './fake-github-repos.js';

/**
 * Webhook events for IssueOps flows: real payloads of @octokit/webhooks-examples with the issue, pull request,
 * comment, repository and sender taken from the fake GitHub's current state, so what the app reads back through
 * the API agrees with what the event said. Deliver with `probot.receive({ id, ...event })` or sign and post them.
 */

export interface WebhookEvent<Name extends string = string> {
  name: Name;
  payload: Json;
}

export interface EventOptions {
  /** `installation.id`; default 1. */
  installationId?: number;
  /** Who caused the event (a login); each builder says its default. */
  sender?: string;
}

interface WebhookExamples {
  name: string;
  examples: Json[];
}

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookExamples[];

/** Actions the examples lack, and the action of the same shape that stands in for them. */
const STAND_INS: Record<string, string> = { 'issues.closed': 'reopened' };

function example(event: string, action: string): Json {
  const actionOf = STAND_INS[`${event}.${action}`] ?? action;
  const found = examples.find((entry) => entry.name === event)?.examples.find((payload) => payload.action === actionOf);
  if (!found) throw new Error(`no ${event}.${actionOf} example in @octokit/webhooks-examples`);
  return { ...structuredClone(found), action };
}

/** What every event carries: repository, organization (for an organisation's repository), installation, sender. */
function envelope(fake: FakeGitHub, fullName: string, payload: Json, sender: string, options: EventOptions): Json {
  const repository = fake.repository(fullName);
  // A webhook's repository is the REST one without `organization`, which sits beside it instead.
  payload.repository = { ...payload.repository, ...repository };
  delete payload.repository.organization;
  if (repository.owner.type === 'Organization') payload.organization = organisation(fake, repository.owner);
  else delete payload.organization;
  const installationId = options.installationId ?? 1;
  payload.installation = { id: installationId, node_id: Buffer.from(`Installation${installationId}`).toString('base64') };
  payload.sender = fake.user(sender);
  return payload;
}

function organisation(fake: FakeGitHub, owner: Json): Json {
  const url = `${fake.apiUrl}/orgs/${owner.login}`;
  return {
    login: owner.login,
    id: owner.id,
    node_id: owner.node_id,
    url,
    repos_url: `${url}/repos`,
    events_url: `${url}/events`,
    hooks_url: `${url}/hooks`,
    issues_url: `${url}/issues`,
    members_url: `${url}/members{/member}`,
    public_members_url: `${url}/public_members{/member}`,
    avatar_url: owner.avatar_url,
    description: null,
  };
}

/** The issue as the fake has it, over the example's (so fields the fake does not model keep realistic values). */
function issueOf(fake: FakeGitHub, fullName: string, number: number, exampleIssue: Json): Json {
  const issue = { ...exampleIssue, ...fake.issue(fullName, number) };
  if (!('pull_request' in fake.issue(fullName, number))) delete issue.pull_request;
  return issue;
}

/**
 * `issues` with `action`. Sender defaults to the issue's author; for `closed`, to who closed it. `edited` carries
 * `changes` (default: those of the last editIssue or PATCH); `labeled` carries `label` (default: the last added).
 */
export function issuesEvent(
  fake: FakeGitHub,
  fullName: string,
  number: number,
  action: 'opened' | 'edited' | 'labeled' | 'closed',
  options: EventOptions & { changes?: IssueChanges; label?: string } = {},
): WebhookEvent<'issues'> {
  const payload = example('issues', action);
  const issue = issueOf(fake, fullName, number, payload.issue);
  payload.issue = issue;
  if (action === 'edited') payload.changes = options.changes ?? fake.lastIssueChanges(fullName, number);
  else delete payload.changes;
  if (action === 'labeled') {
    const name = options.label ?? fake.labels(fullName, number).at(-1);
    const label = issue.labels.find((candidate: Json) => candidate.name.toLowerCase() === name?.toLowerCase());
    if (!label) throw new Error(`${fullName}#${number} has no label ${name ?? '(none)'}`);
    payload.label = label;
  }
  const sender = options.sender ?? (action === 'closed' && issue.closed_by ? issue.closed_by.login : issue.user.login);
  return { name: 'issues', payload: envelope(fake, fullName, payload, sender, options) };
}

/**
 * `issue_comment.created`: `username` comments `body` on an issue or pull request (whose issue then carries
 * `pull_request`). The comment is recorded in the fake first, as on GitHub, so the app finds it when it lists
 * the comments.
 */
export function issueCommentEvent(
  fake: FakeGitHub,
  fullName: string,
  number: number,
  body: string,
  username: string,
  options: Omit<EventOptions, 'sender'> = {},
): WebhookEvent<'issue_comment'> {
  const payload = example('issue_comment', 'created');
  const id = fake.createComment(fullName, number, body, username);
  payload.comment = { ...payload.comment, ...fake.comment(fullName, id) };
  payload.issue = issueOf(fake, fullName, number, payload.issue);
  return { name: 'issue_comment', payload: envelope(fake, fullName, payload, username, options) };
}

/**
 * `pull_request` with `action`. Sender defaults to the author; for `closed`, to who merged or closed it.
 * `synchronize` carries `before` (the head before the last push) and `after` (the head).
 */
export function pullRequestEvent(
  fake: FakeGitHub,
  fullName: string,
  number: number,
  action: 'opened' | 'synchronize' | 'closed' | 'reopened',
  options: EventOptions = {},
): WebhookEvent<'pull_request'> {
  const payload = example('pull_request', action);
  const pull = { ...payload.pull_request, ...fake.pull(fullName, number) };
  payload.number = number;
  payload.pull_request = pull;
  if (action === 'synchronize') {
    payload.before = fake.previousHead(fullName, number) ?? pull.head.sha;
    payload.after = pull.head.sha;
  }
  const closer = pull.merged_by?.login ?? fake.issue(fullName, number).closed_by?.login;
  const sender = options.sender ?? (action === 'closed' && closer ? closer : pull.user.login);
  return { name: 'pull_request', payload: envelope(fake, fullName, payload, sender, options) };
}
