import { readFileSync } from 'node:fs';

/** GitLab's documented payload shapes (webhook Job events, GET a single job), adjusted per test. */

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/gitlab/${name}`, import.meta.url), 'utf8')) as Record<string, any>;

export interface JobHookOptions {
  buildId: number;
  status?: string;
  projectId?: number;
  /** The project's web URL; the fixture's points at gitlab.example.com. */
  projectUrl?: string;
  /** Sets the `runner` object (GitLab sends null until a runner picked the job). */
  runnerDescription?: string;
}

export function jobHookPayload(options: JobHookOptions): Record<string, any> {
  const payload = fixture('job-hook.json');
  payload.build_id = options.buildId;
  payload.build_status = options.status ?? 'pending';
  payload.project_id = options.projectId ?? payload.project_id;
  payload.project.id = payload.project_id;
  if (options.projectUrl) payload.project.web_url = options.projectUrl;
  if (options.runnerDescription !== undefined)
    payload.runner = { ...fixture('job-hook-runner.json'), description: options.runnerDescription };
  return payload;
}

export function jobResponse(id: number, status: string, tags: string[]): Record<string, any> {
  const job = fixture('job.json');
  return { ...job, id, status, tag_list: tags, web_url: `${job.web_url.replace(/\/\d+$/, '')}/${id}` };
}
