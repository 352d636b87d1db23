import { z } from 'zod';
import { awsRegion, securityGroupId, subnetId } from '../fleets/spec.js';
import { terraformSettingsSchema } from '../terraform/settings.js';

/**
 * The `issueops:` section of the fleets file: where fleet requests are filed, who may approve them,
 * and how Terraform runs (src/terraform/settings.ts). Without the section the app serves its fleets file only.
 */

export const issueOpsSettingsSchema = z.strictObject({
  repository: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'expected owner/name'),
  approvers: z
    .strictObject({
      /** Repository `role_name` values (admin, maintain, write, triage, read, or a custom role). */
      roles: z.array(z.string().min(1)).default(['admin', 'maintain']),
      /** Team slugs of the repository's organization, or `org/team`. */
      teams: z.array(z.string().regex(/^([A-Za-z0-9_.-]+\/)?[A-Za-z0-9_.-]+$/, 'expected a team slug or org/team')).default([]),
    })
    .prefault({}),
  terraform: terraformSettingsSchema.prefault({}),
  defaults: z
    .strictObject({
      /** The region fleets are built in; runners must run where the app keeps their credentials. */
      region: awsRegion.default('us-east-1'),
      subnets: z.array(subnetId).default([]),
      securityGroups: z.array(securityGroupId).default([]),
      /** Fargate tasks in public subnets without a NAT gateway need a public IP to reach GitHub. */
      assignPublicIp: z.boolean().default(false),
    })
    .prefault({}),
  /** How long `/approve destroy` waits for a draining fleet's busy runners before it destroys anyway. */
  drainTimeoutSeconds: z.number().int().min(0).default(3600),
});

export type IssueOpsSettings = z.infer<typeof issueOpsSettingsSchema>;
