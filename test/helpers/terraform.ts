import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fleetSpecSchema, provisionSchema, type FleetSpec } from '../../src/fleets/spec.js';
import type { ProviderSettings } from '../../src/terraform/settings.js';
import type { z } from 'zod';
import { motoAvailable, type Moto } from './moto.js';

/** The AWS provider filesystem mirror for offline `terraform init`: configuration, never a constant in product code. */
export const terraformMirror: string | null =
  process.env.FLEETBOT_TEST_TF_MIRROR === undefined ? '/opt/tf-plugins' : process.env.FLEETBOT_TEST_TF_MIRROR || null;

export const terraformBinary = process.env.FLEETBOT_TEST_TF_BINARY ?? 'terraform';

const terraformAvailable = spawnSync(terraformBinary, ['version'], { encoding: 'utf8' }).status === 0;
// An empty FLEETBOT_TEST_TF_MIRROR means "no mirror: install the provider from the registry".
const mirrorAvailable = terraformMirror === null || existsSync(terraformMirror);

/** What is missing for a real Terraform run against moto, or undefined when nothing is. */
function missingForTerraform(): string | undefined {
  const missing = [
    motoAvailable ? undefined : 'moto_server is not on PATH (pip install "moto[server]")',
    terraformAvailable ? undefined : `${terraformBinary} is not on PATH`,
    mirrorAvailable ? undefined : `no provider mirror at ${terraformMirror} (set FLEETBOT_TEST_TF_MIRROR)`,
  ].filter((reason) => reason !== undefined);
  return missing.length > 0 ? missing.join('; ') : undefined;
}

/**
 * Like describeWithMoto, for suites that also run terraform offline: skipped loudly where moto,
 * terraform or the provider mirror is missing, and a failure under CI=true.
 */
export function describeWithTerraform(name: string, body: () => void): void {
  const missing = missingForTerraform();
  if (missing === undefined) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs moto_server, terraform and the provider mirror (CI=true makes this a failure)', () => {
        throw new Error(missing);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPED "${name}": ${missing} ***\n`);
  describe.skip(name, body);
}

/** AWS services a fleet's Terraform talks to. */
const FLEET_SERVICES = ['autoscaling', 'cloudwatchlogs', 'ec2', 'ecs', 'iam', 'ssm', 'sts'] as const;
/** And the control plane's (cdktf/control-plane.ts). */
export const CONTROL_PLANE_SERVICES = ['cloudwatch', 'cloudwatchlogs', 'dynamodb', 'ecs', 'events', 'iam', 'lambda', 'sqs', 'sts'] as const;

/** Provider settings that point every service a fleet (or the given ones) uses at `url` (moto), failing fast. */
export function providerSettingsFor(url: string, services: readonly string[] = FLEET_SERVICES): ProviderSettings {
  return {
    endpoints: Object.fromEntries(services.map((service) => [service, url])),
    skipCredentialsValidation: true,
    skipRequestingAccountId: true,
    skipMetadataApiCheck: true,
    s3UsePathStyle: true,
    // Low, so a failing test fails fast; not 1: moto sometimes drops a kept-alive connection under load.
    maxRetries: 3,
  };
}

/** The environment terraform runs with against moto: this process's (PATH, HOME), with fake credentials and none of the host's AWS setup. */
export function terraformEnvFor(moto: Moto): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: moto.env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: moto.env.AWS_SECRET_ACCESS_KEY,
    AWS_REGION: moto.env.AWS_REGION,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
}

type FleetProvisionInput = z.input<typeof provisionSchema>;

/** A Fargate fleet as the IssueOps validator writes it, security group left to Terraform. */
export function provisionedFargateFleet(subnetId: string, provision: Partial<FleetProvisionInput> = {}): FleetSpec {
  return fleetSpecSchema.parse({
    name: 'linux-small',
    labels: ['self-hosted', 'linux', 'small'],
    maxRunners: 5,
    compute: {
      type: 'ecs',
      cluster: 'fleetbot-linux-small',
      taskDefinition: 'fleetbot-linux-small',
      containerName: 'runner',
      subnets: [subnetId],
      securityGroups: provision.securityGroups ?? [],
      assignPublicIp: false,
      capacityProviders: ['FARGATE_SPOT', 'FARGATE'],
    },
    provision: {
      region: 'us-east-1',
      image: 'ghcr.io/acme/runner:2.329.0',
      cpu: 1024,
      memoryMiB: 2048,
      securityGroups: [],
      requestIssue: 12,
      ...provision,
    },
  });
}

/** An EC2 fleet as the IssueOps validator writes it. moto ships Canonical's xenial AMI, which the default filter finds. */
export function provisionedEc2Fleet(subnetId: string, provision: Partial<FleetProvisionInput> = {}): FleetSpec {
  return fleetSpecSchema.parse({
    name: 'linux-vm',
    labels: ['self-hosted', 'linux', 'vm'],
    maxRunners: 5,
    compute: {
      type: 'ec2',
      launchTemplate: 'fleetbot-linux-vm',
      instanceTypes: ['m7i.large', 'm6i.large'],
      subnets: [subnetId],
      spot: true,
    },
    provision: {
      region: 'us-east-1',
      image: 'ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*',
      securityGroups: [],
      requestIssue: 13,
      ...provision,
    },
  });
}
