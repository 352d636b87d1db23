import { createRequire } from 'node:module';

/** Real webhook payloads from @octokit/webhooks-examples, adjusted per test. */

interface WebhookExamples {
  name: string;
  examples: Array<Record<string, unknown>>;
}

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookExamples[];

function example(event: string, action: string): Record<string, any> {
  const found = examples.find((entry) => entry.name === event)?.examples.find((payload) => payload.action === action);
  if (!found) throw new Error(`no ${event}.${action} example in @octokit/webhooks-examples`);
  return structuredClone(found) as Record<string, any>;
}

export interface JobPayloadOptions {
  jobId: number;
  labels?: string[];
  /** Adds `organization` (the examples lack it), which makes runners organisation-level. */
  org?: string;
  runnerName?: string | null;
  installationId?: number;
  /** A completed job's conclusion (the example's is `failure`). */
  conclusion?: string;
}

function workflowJob(action: 'queued' | 'in_progress' | 'completed', options: JobPayloadOptions): Record<string, any> {
  const payload = example('workflow_job', action);
  payload.workflow_job.id = options.jobId;
  payload.workflow_job.labels = options.labels ?? ['self-hosted', 'linux'];
  payload.installation = { id: options.installationId ?? 4242, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg==' };
  if (options.org) {
    payload.organization = { login: options.org, id: 1, node_id: 'O_1', url: `https://api.github.com/orgs/${options.org}` };
  } else {
    delete payload.organization;
  }
  if (action !== 'queued') payload.workflow_job.runner_name = options.runnerName ?? null;
  if (action === 'completed' && options.conclusion) payload.workflow_job.conclusion = options.conclusion;
  return payload;
}

/** A runner took the job: `started_at` and `created_at` (when the job was queued) as given; null leaves one out. */
export function startedJob(options: JobPayloadOptions & { startedAt: string; createdAt: string | null }): Record<string, any> {
  const payload = workflowJob('in_progress', options);
  payload.workflow_job.started_at = options.startedAt;
  if (options.createdAt === null) delete payload.workflow_job.created_at;
  else payload.workflow_job.created_at = options.createdAt;
  return payload;
}

export const queuedJob = (options: JobPayloadOptions) => workflowJob('queued', options);
export const completedJob = (options: JobPayloadOptions) => workflowJob('completed', options);
