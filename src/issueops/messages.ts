import { stringify as stringifyYaml } from 'yaml';
import { summaryRows } from '../fleets/compute-registry.js';
import type { FleetSpec } from '../fleets/spec.js';

/**
 * Every comment fleetbot writes for IssueOps, as pure functions of what they report. A hidden marker
 * names each kind so it can be found and updated in place instead of piling up.
 */

/** GitHub refuses comment bodies longer than this. */
export const COMMENT_LIMIT = 65_536;

export const MARKERS = {
  request: '<!-- fleetbot:request -->',
  plan: '<!-- fleetbot:plan -->',
} as const;

export interface FieldProblemLike {
  field: string;
  message: string;
}

export function invalidRequestComment(problems: readonly FieldProblemLike[]): string {
  const lines = problems.map((problem) => `- **${escapeMarkdown(problem.field)}**: ${escapeMarkdown(problem.message)}`);
  return [
    MARKERS.request,
    '### ❌ This request cannot be used yet',
    '',
    ...lines,
    '',
    'Edit the issue to fix these; fleetbot checks it again on every edit.',
  ].join('\n');
}

export function acceptedRequestComment(kind: 'create' | 'delete', fleet: string, pullUrl: string, prNumber: number): string {
  const what = kind === 'create' ? `The request for fleet \`${fleet}\` is valid` : `The deletion of fleet \`${fleet}\` is valid`;
  return [
    MARKERS.request,
    `### ✅ ${what}`,
    '',
    `Pull request [#${prNumber}](${pullUrl}) holds the change; its Terraform plan is posted there.`,
    'Edits to this issue update the pull request and make a new plan.',
  ].join('\n');
}

export function pullRequestBody(kind: 'create' | 'delete', fleet: string, issueNumber: number, details: string): string {
  const intro =
    kind === 'create'
      ? `Creates runner fleet \`${fleet}\`, as requested in #${issueNumber}.`
      : `Deletes runner fleet \`${fleet}\`, as requested in #${issueNumber}.`;
  const approve = kind === 'create' ? '`/approve`' : `\`/approve destroy ${fleet}\``;
  return [
    intro,
    '',
    details,
    '',
    `fleetbot posts the Terraform plan below. An approver comments ${approve} to apply exactly that plan; ` +
      `fleetbot then merges this pull request and closes #${issueNumber}.`,
    '',
    `Closes #${issueNumber}`,
  ].join('\n');
}

/** A Markdown summary of the fleet for the PR body; each compute type gives its own rows (src/fleets/compute-*.ts). */
export function fleetSummary(spec: FleetSpec): string {
  return ['| | |', '|---|---|', ...summaryRows(spec).map(([key, value]) => `| ${key} | ${value} |`)].join('\n');
}

export interface PlanReport {
  sha: string;
  summary: string;
  text: string;
  kind: 'create' | 'delete';
  fleet: string;
}

/**
 * The plan comment: terraform's summary line, the planned head and the full plan folded away, cut at a
 * line boundary when it would not fit in one comment.
 */
export function planComment(plan: PlanReport, limit = COMMENT_LIMIT): string {
  const approve = plan.kind === 'create' ? '`/approve`' : `\`/approve destroy ${plan.fleet}\``;
  const head = [
    MARKERS.plan,
    `### Terraform plan for \`${plan.sha.slice(0, 7)}\``,
    '',
    `**${plan.summary}**`,
    '',
    `Planned head: \`${plan.sha}\`. ${approve} applies exactly this plan; a push or an edit of the request makes a new one.`,
    '',
    '<details><summary>Full plan</summary>',
    '',
    '```',
  ].join('\n');
  const tail = ['```', '', '</details>'].join('\n');
  const body = plan.text.replaceAll('```', '`\u200b``').trimEnd();
  const room = limit - head.length - tail.length - 2;
  if (body.length <= room) return `${head}\n${body}\n${tail}`;
  const note = (shown: number) => `\n… cut here: ${shown} of ${body.length} characters shown (GitHub's comment limit).`;
  const budget = room - note(body.length).length;
  const cutAt = body.lastIndexOf('\n', budget);
  const kept = body.slice(0, cutAt > 0 ? cutAt : budget);
  return `${head}\n${kept}${note(kept.length)}\n${tail}`;
}

export function planFailedComment(sha: string, reason: string, tail?: string): string {
  return [
    MARKERS.plan,
    `### ❌ No plan for \`${sha.slice(0, 7)}\``,
    '',
    reason,
    ...(tail ? ['', '```', tail.replaceAll('```', '`\u200b``'), '```'] : []),
  ].join('\n');
}

export function applyFailedComment(sha: string, tail: string): string {
  return [
    `### ❌ Apply of \`${sha.slice(0, 7)}\` failed`,
    '',
    'Nothing was merged and the fleet lock is released. Push a fix or edit the request (or comment `/plan`) for a new plan.',
    '',
    '```',
    tail.replaceAll('```', '`\u200b``'),
    '```',
  ].join('\n');
}

export function failureComment(message: string): string {
  return (
    `### ⚠️ fleetbot could not finish\n\n${escapeMarkdown(message)}\n\n` +
    'Nothing was applied. Edit the request or comment `/plan` to try again.'
  );
}

export function refusalComment(user: string, reason: string): string {
  return `@${user} fleetbot did not apply anything: ${reason}`;
}

export function appliedComment(sha: string, kind: 'create' | 'delete', fleet: string, merged: boolean, mergeProblem?: string): string {
  const what = kind === 'create' ? `Fleet \`${fleet}\` is live` : `Fleet \`${fleet}\` is destroyed`;
  return [
    `### ✅ Applied \`${sha.slice(0, 7)}\``,
    '',
    `${what}.`,
    merged
      ? 'This pull request is merged.'
      : `The merge failed (${mergeProblem ?? 'unknown reason'}); merge it by hand: the plan is applied.`,
  ].join('\n');
}

export function alreadyAppliedComment(user: string, sha: string): string {
  return `@${user} already applied at \`${sha}\`.`;
}

/**
 * The note that closes a request issue: how to use the new fleet. Its `runs-on` is the fleet's own
 * labels, the ones its runners register with and jobs are matched against (the request's labels with
 * `self-hosted` added), so the example is right whatever was asked for.
 */
export function fleetReadyComment(spec: FleetSpec, prNumber: number): string {
  const runsOn = `[${spec.labels.map(yamlFlowScalar).join(', ')}]`;
  return [
    `### ✅ Fleet \`${spec.name}\` is ready`,
    '',
    `Applied and merged in #${prNumber}. Jobs whose \`runs-on\` labels are all among \`${runsOn}\` now get one ephemeral runner each, ` +
      `up to ${spec.maxRunners} at a time; more wait in a queue.`,
    '',
    '```yaml',
    'jobs:',
    '  build:',
    `    runs-on: ${runsOn}`,
    '    steps:',
    '      - uses: actions/checkout@v4',
    '      - run: make test',
    '```',
  ].join('\n');
}

/**
 * A label written so that YAML reads it back as the same string: quoted when it would read as a number,
 * boolean, null or date (`1.0`, `true`, `on`). YAML 1.1's rules are the wider ones, so a 1.2 reader agrees.
 */
function yamlFlowScalar(label: string): string {
  return stringifyYaml(label, { version: '1.1' }).trimEnd();
}

export function fleetDeletedComment(fleet: string, prNumber: number, droppedJobs: number): string {
  return [
    `### ✅ Fleet \`${fleet}\` is deleted`,
    '',
    `Destroyed and merged in #${prNumber}.` +
      (droppedJobs > 0 ? ` ${droppedJobs} queued job(s) that were waiting for it will not run on it.` : ''),
  ].join('\n');
}

/** Text from an issue shown back in a comment must not turn into mentions, links or markup. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]<>()#+!|@~]/g, (character) => `\\${character}`);
}

/** What a request is told when another request (#holder) holds its fleet's lock, by where it meets the lock. */
export const fleetLocked = {
  /** A new fleet's name, while another request asks for the same name. */
  name: (fleet: string, holder: number) => `fleet "${fleet}" is already being requested in #${holder}`,
  /** A request issue: a deletion, or a request whose fleet another request took meanwhile. */
  request: (fleet: string, holder: number) =>
    `fleet "${fleet}" is locked by the request in #${holder} until its pull request is merged or closed`,
  /** A plan of the pull request. */
  plan: (fleet: string, holder: number) =>
    `fleet \`${fleet}\` is locked by the request in #${holder}; plan again once it is merged or closed.`,
};

/** Told when a destroy failed or was abandoned: the drained fleet serves jobs again. */
export function undrainedNote(fleet: string): string {
  return `Fleet \`${fleet}\` is no longer draining: it takes jobs again until a destroy is applied.`;
}
