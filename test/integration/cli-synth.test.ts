import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSubnetCommand, CreateVpcCommand, ModifyVpcAttributeCommand } from '@aws-sdk/client-ec2';
import { stringify } from 'yaml';
import { synthesizeFleet } from '../../cdktf/synth.js';
import type { SynthSettings } from '../../src/terraform/settings.js';
import { EXIT } from '../../src/cli/command.js';
import { main } from '../../src/cli/main.js';
import type { FleetSpec } from '../../src/fleets/spec.js';
import { parseIssueBody } from '../../src/issueops/form.js';
import { validateFleetRequest } from '../../src/issueops/request.js';
import { TerraformCli } from '../../src/terraform/cli.js';
import type { PlanResult } from '../../src/terraform/types.js';
import { clientsFor } from '../helpers/aws-fixture.js';
import { FLEETS_REPO, fargateRequest, requestForm } from '../helpers/issueops.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { describeWithTerraform, providerSettingsFor, terraformBinary, terraformEnvFor, terraformMirror } from '../helpers/terraform.js';
import { captureContext } from '../unit/cli/cli-context.js';

/**
 * `fleetbot synth` for fleets written by hand: the Terraform it writes plans with real terraform against
 * moto, and is the Terraform IssueOps writes for the same fleet requested by issue.
 */

const IMAGE = 'ghcr.io/acme/actions-runner:2.329.0';
// moto ships Canonical's xenial AMI, which this name filter finds.
const AMI_FILTER = 'ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*';
const PLAN_TIMEOUT_MS = 180_000;

/** Hand-written fleets as an operator writes them: names for what Terraform will build, no provision block. */
function handWrittenFleets(subnetId: string) {
  return [
    {
      name: 'linux-small',
      labels: ['self-hosted', 'linux', 'small'],
      maxRunners: 5,
      compute: {
        type: 'ecs',
        cluster: 'fleetbot-linux-small',
        taskDefinition: 'fleetbot-linux-small',
        containerName: 'runner',
        subnets: [subnetId],
        capacityProviders: ['FARGATE_SPOT', 'FARGATE'],
      },
    },
    {
      name: 'linux-vm',
      labels: ['self-hosted', 'linux', 'vm'],
      maxRunners: 5,
      compute: { type: 'ec2', launchTemplate: 'fleetbot-linux-vm', instanceTypes: ['m7i.large'], subnets: [subnetId], spot: true },
    },
  ];
}

/** `fleetbot <argv>` in `cwd`, as the bin would run it. */
async function fleetbot(argv: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const context = captureContext(cwd, env);
  const code = await main(argv, context);
  return { code, stdout: context.stdout(), stderr: context.stderr() };
}

/** The addresses a plan creates, from terraform's own text: `# aws_ecs_cluster.fleet_cluster_DFCA6E6A will be created`. */
function createdTypes(plan: PlanResult): string[] {
  return [...plan.text.matchAll(/^\s*# (\w+)\.\S+ will be created$/gm)].map((match) => match[1]).sort();
}

/** Terraform JSON without one tag, everywhere it appears. */
function withoutTag(json: string, tag: string): unknown {
  return JSON.parse(json, (key, value: unknown) => {
    if ((key === 'tags' || key === 'tags_all') && value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).filter(([name]) => name !== tag));
    }
    return value;
  });
}

describeWithTerraform('fleetbot synth against moto', () => {
  let moto: Moto;
  let workdir: string;
  let subnetId: string;
  let cli: TerraformCli;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    moto = await startMoto();
    workdir = await mkdtemp(join(tmpdir(), 'fleetbot-cli-synth-'));
    const { ec2 } = clientsFor(moto);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
    await ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpc.Vpc!.VpcId!, EnableDnsHostnames: { Value: true } }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: '10.0.1.0/24' }));
    subnetId = subnet.Subnet!.SubnetId!;
    // The provider pointed at moto the way IssueOps fleets are: the fleets file's issueops.terraform section.
    const fleetsFile = {
      fleets: handWrittenFleets(subnetId),
      issueops: { repository: FLEETS_REPO, terraform: { provider: providerSettingsFor(moto.url) } },
    };
    await writeFile(join(workdir, 'fleetbot.yml'), stringify(fleetsFile));
    env = { FLEETBOT_CONFIG: 'fleetbot.yml', AWS_REGION: moto.env.AWS_REGION };
    cli = new TerraformCli({
      binary: terraformBinary,
      pluginMirror: terraformMirror,
      timeoutMs: PLAN_TIMEOUT_MS,
      stateDir: join(workdir, 'terraform-cli'),
      env: terraformEnvFor(moto),
      secrets: [],
    });
  });

  afterAll(async () => {
    await moto?.stop();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  it(
    'writes an ECS Fargate fleet whose plan creates its cluster, task definition, roles, log group and security group',
    async () => {
      const synth = await fleetbot(['synth', 'linux-small', '--image', IMAGE, '--cpu', '1', '--memory', '2'], workdir, env);
      expect(synth).toMatchObject({ code: EXIT.ok, stderr: '' });
      expect(synth.stdout).toContain('Wrote infra/linux-small/cdk.tf.json: fleet linux-small (github, ECS Fargate) from fleetbot.yml');
      expect(synth.stdout).toContain('terraform -chdir=infra/linux-small init');

      const dir = join(workdir, 'infra', 'linux-small');
      await cli.init(dir);
      const plan = await cli.plan(dir, 'fleet.tfplan');
      expect(plan.summary).toBe('Plan: 9 to add, 0 to change, 0 to destroy.');
      expect(createdTypes(plan)).toEqual([
        'aws_cloudwatch_log_group',
        'aws_ecs_cluster',
        'aws_ecs_cluster_capacity_providers',
        'aws_ecs_task_definition',
        'aws_iam_role',
        'aws_iam_role',
        'aws_iam_role_policy',
        'aws_iam_role_policy_attachment',
        'aws_security_group',
      ]);
      expect(plan.text).toContain('+ family                   = "fleetbot-linux-small"');
      expect(plan.text).toContain(IMAGE);
    },
    PLAN_TIMEOUT_MS,
  );

  it(
    'writes an EC2 fleet whose plan creates its launch template, instance role and profile, and security group',
    async () => {
      const synth = await fleetbot(['synth', 'linux-vm', '--image', AMI_FILTER, '--out', 'vm'], workdir, env);
      expect(synth).toMatchObject({ code: EXIT.ok, stderr: '' });
      const dir = join(workdir, 'vm');
      await cli.init(dir);
      const plan = await cli.plan(dir, 'fleet.tfplan');
      expect(plan.summary).toBe('Plan: 5 to add, 0 to change, 0 to destroy.');
      expect(createdTypes(plan)).toEqual([
        'aws_iam_instance_profile',
        'aws_iam_role',
        'aws_iam_role_policy',
        'aws_launch_template',
        'aws_security_group',
      ]);
      // The AMI filter was resolved against moto while planning.
      expect(plan.text).toContain('+ image_id                             = "ami-785db401"');
    },
    PLAN_TIMEOUT_MS,
  );

  describe('writes what IssueOps writes for the same fleet', () => {
    let settings: SynthSettings;
    let requested: FleetSpec;

    beforeAll(() => {
      settings = { backend: { type: 'local' }, provider: providerSettingsFor(moto.url) };
      const form = parseIssueBody(
        fargateRequest('linux-build', subnetId, { vCPU: '2', 'Memory (GiB)': '8', 'Runner image': IMAGE }),
        requestForm,
      );
      if (!form.ok) throw new Error('the request form did not parse');
      const result = validateFleetRequest(form.values, {
        defaults: { region: moto.env.AWS_REGION, subnets: [], securityGroups: [], assignPublicIp: false },
        nameTaken: () => undefined,
        requestIssue: 12,
        warmPoolOwner: 'acme',
      });
      if (!result.ok) throw new Error(`the request was refused: ${JSON.stringify(result.problems)}`);
      requested = result.spec;
    });

    async function synthFromFile(fleet: FleetSpec, argv: string[]): Promise<string> {
      const dir = await mkdtemp(join(workdir, 'equal-'));
      await writeFile(
        join(dir, 'fleetbot.yml'),
        stringify({ fleets: [fleet], issueops: { repository: FLEETS_REPO, terraform: { provider: settings.provider } } }),
      );
      const synth = await fleetbot(['synth', fleet.name, ...argv], dir, { AWS_REGION: moto.env.AWS_REGION });
      expect(synth).toMatchObject({ code: EXIT.ok, stderr: '' });
      return readFile(join(dir, 'infra', fleet.name, 'cdk.tf.json'), 'utf8');
    }

    it('byte for byte, for a fleet that carries the provision block IssueOps recorded', async () => {
      expect(await synthFromFile(requested, [])).toBe(synthesizeFleet(requested, settings));
    });

    it("but for the request-issue tag, for the fleet written by hand with the request's answers as flags", async () => {
      const { provision, ...handWritten } = requested;
      const written = await synthFromFile(handWritten, ['--image', IMAGE, '--cpu', '2', '--memory', '8', '--region', provision!.region]);
      const issueOps = synthesizeFleet(requested, settings);
      expect(issueOps).toContain('"fleetbot:request-issue": "12"');
      expect(written).not.toContain('fleetbot:request-issue');
      expect(withoutTag(written, 'fleetbot:request-issue')).toEqual(withoutTag(issueOps, 'fleetbot:request-issue'));
    });
  });
});
