import { stringify as stringifyYaml } from 'yaml';
import type { FleetSpec } from '../fleets/spec.js';
import type { RequestSubject } from '../store/types.js';
import { fleetSummary, pullRequestBody } from './messages.js';
import type { IssueOpsContext, IssueOpsGitHub, PullRequestInfo } from './types.js';

/** What a valid request publishes: its fleet, what it asks for, and its pull request so far. */
export interface Publication {
  issueNumber: number;
  fleet: string;
  subject: RequestSubject;
  /** The request's pull request from an earlier version of the request, if any. */
  prNumber: number | null;
}

/**
 * One commit on the default branch through the git data API (no clone), on fleetbot's branch for the
 * request, and a pull request for it. An edit that changes nothing in the files keeps the branch as
 * it is, so its plan stays valid; the PR text is refreshed either way.
 */
export async function publish(
  github: IssueOpsGitHub,
  publication: Publication,
  files: Record<string, string | null>,
): Promise<PullRequestInfo> {
  const { fleet, subject, issueNumber } = publication;
  const branch = subject.kind === 'create' ? `fleetbot/fleet-${fleet}` : `fleetbot/delete-fleet-${fleet}`;
  const base = await github.defaultBranch();
  const title = subject.kind === 'create' ? `Create runner fleet ${fleet}` : `Delete runner fleet ${fleet}`;
  const details = subject.spec
    ? fleetSummary(subject.spec)
    : `Removes \`fleets/${fleet}.yml\` and \`terraform/${fleet}/\`; the plan destroys the fleet's resources.`;
  const body = pullRequestBody(subject.kind, fleet, issueNumber, details);

  let open = publication.prNumber !== null ? await github.getPull(publication.prNumber) : undefined;
  if (open && open.state !== 'open') open = undefined;
  const current = open ? await github.branchSha(branch) : undefined;
  if (!current || !(await sameFiles(github, current, files))) {
    const baseSha = await github.branchSha(base);
    if (!baseSha) throw new Error(`the default branch ${base} of ${github.fullName} has no commits`);
    const commit = await github.createCommit(baseSha, files, `${title} (#${issueNumber})`);
    await github.setBranch(branch, commit);
  }
  if (open) {
    await github.updatePull(open.number, { title, body });
    return github.getPull(open.number);
  }
  return github.openPull(branch, base, title, body);
}

/** The files a request commits: the fleet's spec and its Terraform JSON, or (a deletion) their removal. */
export function requestFiles(ctx: IssueOpsContext, fleet: string, subject: RequestSubject): Record<string, string | null> {
  if (subject.kind === 'delete') return { [specPath(fleet)]: null, [terraformPath(fleet)]: null };
  return {
    [specPath(fleet)]: specYaml(subject.spec),
    [terraformPath(fleet)]: ctx.synthesize(subject.spec, ctx.synthSettings),
  };
}

export function specPath(fleet: string): string {
  return `fleets/${fleet}.yml`;
}

export function terraformPath(fleet: string): string {
  return `terraform/${fleet}/cdk.tf.json`;
}

/** The spec as committed: YAML with a header saying where it came from. */
export function specYaml(spec: FleetSpec): string {
  const header = `# Written by fleetbot from request #${spec.provision?.requestIssue ?? '?'}; change it by editing the request.`;
  return `${header}\n${stringifyYaml(spec)}`;
}

async function sameFiles(github: IssueOpsGitHub, sha: string, files: Record<string, string | null>): Promise<boolean> {
  for (const [path, content] of Object.entries(files)) {
    if ((await github.readFile(path, sha)) !== (content ?? undefined)) return false;
  }
  return true;
}
