import { readFileSync } from 'node:fs';
import { readIssueForm, type IssueForm } from '../../src/issueops/form.js';
import type { IssueOpsSettings } from '../../src/issueops/settings.js';
import type { Moto } from './moto.js';
import { providerSettingsFor, terraformBinary, terraformMirror } from './terraform.js';

export const FLEETS_REPO = 'acme/runner-fleets';

export const requestForm: IssueForm = readIssueForm(readFileSync('issue-templates/request-fleet.yml', 'utf8'));
export const deleteForm: IssueForm = readIssueForm(readFileSync('issue-templates/delete-fleet.yml', 'utf8'));

/**
 * An issue body as GitHub renders a submitted form: `### Label`, a blank line, the answer or
 * `_No response_`; checkboxes as task-list lines. `answers` are keyed by field label.
 */
export function renderIssueBody(form: IssueForm, answers: Record<string, string | string[]>): string {
  return form.fields
    .map((field) => {
      const answer = answers[field.label];
      if (field.type === 'checkboxes') {
        const checked = Array.isArray(answer) ? answer : [];
        return `### ${field.label}\n\n${field.options.map((option) => `- [${checked.includes(option) ? 'X' : ' '}] ${option}`).join('\n')}`;
      }
      const text = typeof answer === 'string' && answer !== '' ? answer : '_No response_';
      return `### ${field.label}\n\n${text}`;
    })
    .join('\n\n');
}

/** A valid Fargate request; override any answer by its label. */
export function fargateRequest(name: string, subnet: string, overrides: Record<string, string | string[]> = {}): string {
  return renderIssueBody(requestForm, {
    'Fleet name': name,
    'CI system': 'GitHub Actions',
    'Runner labels': `linux, ${name}`,
    Compute: 'ECS Fargate',
    vCPU: '1',
    'Memory (GiB)': '2',
    'Maximum runners': '3',
    'Runner image': 'ghcr.io/acme/actions-runner:2.329.0',
    Subnets: subnet,
    Justification: 'Builds for the platform team need more memory than hosted runners have.',
    ...overrides,
  });
}

export function deleteRequest(name: string): string {
  return renderIssueBody(deleteForm, { 'Fleet name': name, Reason: 'The project moved to hosted runners.' });
}

/** IssueOps settings for tests: the fleets repository, Terraform offline against moto. */
export function issueOpsSettingsFor(moto: Moto, workdir: string, overrides: Partial<IssueOpsSettings> = {}): IssueOpsSettings {
  return {
    repository: FLEETS_REPO,
    approvers: { roles: ['admin', 'maintain'], teams: ['platform'] },
    terraform: {
      binary: terraformBinary,
      workdir,
      pluginMirror: terraformMirror,
      backend: { type: 'local' },
      provider: providerSettingsFor(moto.url),
      timeoutSeconds: 300,
    },
    defaults: { region: moto.env.AWS_REGION, subnets: [], securityGroups: [], assignPublicIp: false },
    drainTimeoutSeconds: 60,
    ...overrides,
  };
}
