import { z } from 'zod';

/** An AWS region name; fleets, the IssueOps defaults and Terraform's S3 backend all name one. */
export const awsRegion = z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, 'expected an AWS region like us-east-1');
