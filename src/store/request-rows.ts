import { fleetSpecSchema } from '../fleets/spec.js';
import type { FleetRequestRecord, RequestKind, RequestStatus, RequestSubject } from './types.js';

/** An IssueOps request as both stores keep it: flat, its spec as JSON text (SQLite's columns, DynamoDB's attributes). */
export interface RequestRow {
  repo: string;
  issue_number: number;
  kind: RequestKind;
  installation_id: number;
  author: string;
  fleet: string | null;
  status: RequestStatus;
  detail: string | null;
  spec: string | null;
  pr_number: number | null;
  branch: string | null;
  planned_sha: string | null;
  plan_file: string | null;
  planned_at: number | null;
  plan_summary: string | null;
  applied_sha: string | null;
  created_at: number;
  updated_at: number;
}

/** The row a request is saved as. */
export function requestRow(request: FleetRequestRecord): RequestRow {
  return {
    repo: request.repo,
    issue_number: request.issueNumber,
    kind: request.kind,
    installation_id: request.installationId,
    author: request.author,
    fleet: request.fleet,
    status: request.status,
    detail: request.detail,
    spec: request.spec === null ? null : JSON.stringify(request.spec),
    pr_number: request.prNumber,
    branch: request.branch,
    planned_sha: request.plannedSha,
    plan_file: request.planFile,
    planned_at: request.plannedAt,
    plan_summary: request.planSummary,
    applied_sha: request.appliedSha,
    created_at: request.createdAt,
    updated_at: request.updatedAt,
  };
}

/**
 * A row as the record its status says it is. Specs are parsed here, once, so that IssueOps works with
 * FleetSpecs; a row that breaks its status's rules was not written by fleetbot, and is refused.
 */
export function toRequest(row: RequestRow): FleetRequestRecord {
  const base = {
    repo: row.repo,
    issueNumber: row.issue_number,
    installationId: row.installation_id,
    author: row.author,
    detail: row.detail,
    plannedSha: row.planned_sha,
    planFile: row.plan_file,
    plannedAt: row.planned_at,
    planSummary: row.plan_summary,
    appliedSha: row.applied_sha,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  const spec = row.spec === null ? null : fleetSpecSchema.parse(JSON.parse(row.spec));
  if (row.status === 'invalid') {
    return { ...base, status: 'invalid', kind: row.kind, fleet: row.fleet, spec, prNumber: row.pr_number, branch: row.branch };
  }
  const broken = (what: string) => new Error(`fleet request ${row.repo}#${row.issue_number} is ${row.status} without ${what}`);
  if (row.fleet === null || row.pr_number === null || row.branch === null) throw broken('its fleet and pull request');
  let subject: RequestSubject;
  if (row.kind === 'delete') subject = { kind: 'delete', spec: null };
  else if (spec !== null) subject = { kind: 'create', spec };
  else throw broken('its fleet spec');
  const published = { ...base, ...subject, fleet: row.fleet, prNumber: row.pr_number, branch: row.branch };
  switch (row.status) {
    case 'planned':
    case 'applying': {
      const { plannedSha, planFile, plannedAt } = base;
      if (plannedSha === null || planFile === null || plannedAt === null) throw broken('its saved plan');
      return { ...published, status: row.status, plannedSha, planFile, plannedAt };
    }
    case 'applied':
      if (base.appliedSha === null) throw broken('the SHA it applied');
      return { ...published, status: 'applied', appliedSha: base.appliedSha };
    default:
      return { ...published, status: row.status };
  }
}
