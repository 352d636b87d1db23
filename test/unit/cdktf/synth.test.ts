import { readFileSync } from 'node:fs';
import { Testing } from 'cdktf';
import { FleetStack } from '../../../cdktf/fleet-stack.js';
import { liveFleetSpec } from '../../../src/fleets/live-spec.js';
import { synthesizeFleet } from '../../../cdktf/synth.js';
import type { SynthSettings } from '../../../src/terraform/settings.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { runnerParameterName } from '../../../src/secrets/ssm.js';
import { iamResourceMatches, parameterArn } from '../../helpers/iam.js';
import { provisionedEc2Fleet, provisionedFargateFleet, providerSettingsFor } from '../../helpers/terraform.js';

const SUBNET = 'subnet-0123456789abcdef0';
const USER_DATA = readFileSync(new URL('../../../images/ec2/runner-user-data.sh', import.meta.url), 'utf8');

const local: SynthSettings = { backend: { type: 'local' }, provider: providerSettingsFor('http://127.0.0.1:5000') };
const plainAws: SynthSettings = {
  backend: { type: 'local' },
  provider: { skipCredentialsValidation: false, skipRequestingAccountId: false, skipMetadataApiCheck: false, s3UsePathStyle: false },
};

const fargate = provisionedFargateFleet(SUBNET);
const ec2 = provisionedEc2Fleet(SUBNET, { image: 'ami-0123456789abcdef0' });

interface TerraformJson {
  provider: { aws: Record<string, unknown>[] };
  terraform: { backend: Record<string, Record<string, unknown>> };
  data?: Record<string, Record<string, Record<string, unknown>>>;
  resource: Record<string, Record<string, Record<string, unknown>>>;
  output: Record<string, { value: unknown }>;
}

/** The fleet's Terraform JSON without cdktf's "//" metadata (construct paths), which is not what Terraform reads. */
function synth(spec: FleetSpec, settings: SynthSettings = local): TerraformJson {
  return JSON.parse(synthesizeFleet(spec, settings), (key, value: unknown) => (key === '//' ? undefined : value)) as TerraformJson;
}

/** The runner role's one credential resource, with the partition and account data sources filled in. */
function runnerCredentialResource(spec: FleetSpec, partition: string, account: string): string {
  const [document] = Object.values(synth(spec).data?.aws_iam_policy_document ?? {});
  const [resource] = (document.statement as { resources: string[] }[])[0].resources;
  return resource.replace(/\$\{data\.aws_partition\.[^}]+\}/, partition).replace(/\$\{data\.aws_caller_identity\.[^}]+\}/, account);
}

/** The only resource of a type, failing when there is not exactly one. */
function only(json: TerraformJson, type: string): Record<string, unknown> {
  const resources = Object.values(json.resource[type] ?? {});
  expect(resources).toHaveLength(1);
  return resources[0];
}

describe('synthesizeFleet', () => {
  it('writes a Fargate fleet', () => {
    expect(synthesizeFleet(fargate, local)).toMatchSnapshot();
  });

  it('writes an EC2 fleet whose launch template carries the runner boot script', () => {
    const json = synth(ec2);
    const template = only(json, 'aws_launch_template');
    expect(Buffer.from(template.user_data as string, 'base64').toString('utf8')).toBe(USER_DATA);
    // The script has its own tests (shellcheck); the snapshot stays about the Terraform.
    template.user_data = '<base64 of images/ec2/runner-user-data.sh>';
    expect(json).toMatchSnapshot();
  });

  it('writes byte-identical text for the same spec and settings', () => {
    expect(synthesizeFleet(fargate, local)).toBe(synthesizeFleet(fargate, local));
    expect(synthesizeFleet(ec2, local)).toBe(synthesizeFleet(ec2, local));
    const reordered: SynthSettings = {
      ...local,
      provider: { ...local.provider, endpoints: Object.fromEntries(Object.entries(local.provider.endpoints ?? {}).reverse()) },
    };
    expect(synthesizeFleet(fargate, reordered)).toBe(synthesizeFleet(fargate, local));
  });

  it('writes what the fleet stack builds, the same in every fresh app', () => {
    const build = () => {
      const stack = new FleetStack(Testing.app(), 'fleetbot-linux-small', {
        spec: fargate,
        provision: fargate.provision!,
        ...local,
        ec2UserData: '',
      });
      return Testing.synth(stack);
    };
    const first = build();
    expect(build()).toBe(first);
    // Testing.synth leaves out cdktf's "//" metadata, as synth() here does.
    expect(JSON.parse(first)).toEqual(synth(fargate));
  });

  it('refuses a fleet without a provision section', () => {
    expect(() => synthesizeFleet({ ...fargate, provision: undefined }, local)).toThrow(/linux-small has no provision section/);
  });

  it('refuses a launch template id where Terraform must name the template', () => {
    const byId = { ...ec2, compute: { ...ec2.compute, launchTemplate: 'lt-0123456789abcdef0' } } as FleetSpec;
    expect(() => synthesizeFleet(byId, local)).toThrow(/names its launch template/);
  });

  describe('the security group', () => {
    it("is created in the subnets' VPC, egress only, when the request names none", () => {
      for (const spec of [fargate, ec2]) {
        const json = synth(spec);
        const group = only(json, 'aws_security_group');
        expect(group.ingress).toBeUndefined();
        expect(group.egress).toEqual([expect.objectContaining({ protocol: '-1', cidr_blocks: ['0.0.0.0/0'] })]);
        expect(group.vpc_id).toMatch(/^\$\{data\.aws_subnet\.[\w-]+\.vpc_id\}$/);
        expect(Object.values(json.data?.aws_subnet ?? {})).toEqual([expect.objectContaining({ id: SUBNET })]);
        expect(json.output.security_groups.value).toEqual([expect.stringMatching(/^\$\{aws_security_group\.[\w-]+\.id\}$/)]);
      }
    });

    it('is not created when the request names security groups, which the fleet then uses', () => {
      const given = ['sg-0aaa1111bbbb2222c'];
      const ecsJson = synth(provisionedFargateFleet(SUBNET, { securityGroups: given }));
      const ec2Json = synth(provisionedEc2Fleet(SUBNET, { securityGroups: given }));
      for (const json of [ecsJson, ec2Json]) {
        const text = JSON.stringify(json);
        expect(Testing.toHaveResource(text, 'aws_security_group')).toBe(false);
        expect(Testing.toHaveDataSource(text, 'aws_subnet')).toBe(false);
        expect(json.output.security_groups.value).toEqual(given);
      }
      expect(only(ec2Json, 'aws_launch_template').vpc_security_group_ids).toEqual(given);
    });
  });

  describe('the backend', () => {
    it('keeps state in the fleet directory by default', () => {
      expect(synth(fargate).terraform.backend).toEqual({ local: { path: 'terraform.tfstate' } });
    });

    it('keeps state in S3 under the key prefix, with the lock table', () => {
      const json = synth(fargate, {
        ...local,
        backend: {
          type: 's3',
          bucket: 'acme-terraform',
          keyPrefix: 'fleetbot/prod',
          region: 'eu-west-1',
          dynamodbTable: 'terraform-locks',
        },
      });
      expect(json.terraform.backend).toEqual({
        s3: {
          bucket: 'acme-terraform',
          key: 'fleetbot/prod/linux-small.tfstate',
          region: 'eu-west-1',
          dynamodb_table: 'terraform-locks',
          encrypt: true,
          // The state goes to the same API as the provider (here an emulator), with the same checks skipped.
          endpoints: { iam: 'http://127.0.0.1:5000', sts: 'http://127.0.0.1:5000' },
          skip_credentials_validation: true,
          skip_metadata_api_check: true,
          skip_requesting_account_id: true,
          use_path_style: true,
        },
      });
    });

    it("writes nothing but the S3 backend's own settings for real AWS", () => {
      const json = synth(fargate, {
        backend: { type: 's3', bucket: 'acme-terraform', keyPrefix: 'fleetbot', region: 'eu-west-1' },
        provider: { skipCredentialsValidation: false, skipRequestingAccountId: false, skipMetadataApiCheck: false, s3UsePathStyle: false },
      });
      expect(json.terraform.backend).toEqual({
        s3: { bucket: 'acme-terraform', key: 'fleetbot/linux-small.tfstate', region: 'eu-west-1', encrypt: true },
      });
    });
  });

  describe('the AWS provider', () => {
    it("takes the fleet's region, the endpoints and the checks to skip from the settings", () => {
      const [aws] = synth(fargate).provider.aws;
      const url = 'http://127.0.0.1:5000';
      expect(aws).toEqual({
        region: 'us-east-1',
        endpoints: [{ autoscaling: url, cloudwatchlogs: url, ec2: url, ecs: url, iam: url, ssm: url, sts: url }],
        skip_credentials_validation: true,
        skip_requesting_account_id: true,
        skip_metadata_api_check: 'true',
        s3_use_path_style: true,
        max_retries: 3,
      });
    });

    it('is plain AWS when the settings change nothing, and never sets default tags', () => {
      expect(synth(fargate, plainAws).provider.aws).toEqual([{ region: 'us-east-1' }]);
    });

    it('refuses an endpoint name the provider does not know', () => {
      expect(() =>
        synthesizeFleet(fargate, { ...plainAws, provider: { ...plainAws.provider, endpoints: { cloudwatch_logs: 'http://x' } } }),
      ).toThrow(/unknown AWS provider endpoint name\(s\): cloudwatch_logs/);
    });
  });

  describe('the resources', () => {
    // Types whose resources take no tags: the template is tagged through what it launches.
    const UNTAGGED = new Set([
      'aws_ecs_cluster_capacity_providers',
      'aws_iam_role_policy',
      'aws_iam_role_policy_attachment',
      'aws_launch_template',
    ]);

    it('are named after the fleet and each tagged with it', () => {
      for (const spec of [fargate, ec2]) {
        const json = synth(spec);
        for (const [type, resources] of Object.entries(json.resource)) {
          for (const resource of Object.values(resources)) {
            if (typeof resource.name === 'string' && resource.name !== 'runner-credentials') {
              expect(resource.name).toMatch(new RegExp(`^(fleetbot-|/fleetbot/)${spec.name}`));
            }
            if (UNTAGGED.has(type)) continue;
            expect({ type, tags: resource.tags }).toEqual({
              type,
              tags: expect.objectContaining({
                'fleetbot:fleet': spec.name,
                'fleetbot:managed-by': 'fleetbot',
                'fleetbot:request-issue': String(spec.provision!.requestIssue),
              }),
            });
          }
        }
      }
      const template = only(synth(ec2), 'aws_launch_template');
      expect(template.tag_specifications).toEqual([
        { resource_type: 'instance', tags: expect.objectContaining({ 'fleetbot:fleet': 'linux-vm' }) },
        { resource_type: 'volume', tags: expect.objectContaining({ 'fleetbot:fleet': 'linux-vm' }) },
      ]);
    });

    it("let a runner read and delete only its own fleet's credentials", () => {
      for (const spec of [fargate, ec2]) {
        const documents = Object.values(synth(spec).data?.aws_iam_policy_document ?? {});
        expect(documents).toEqual([
          {
            statement: [
              {
                sid: 'OwnFleetRunnerCredentials',
                effect: 'Allow',
                actions: ['ssm:DeleteParameter', 'ssm:GetParameter'],
                resources: [expect.any(String)],
              },
            ],
          },
        ]);
        expect(runnerCredentialResource(spec, '<partition>', '<account>')).toBe(
          `arn:<partition>:ssm:us-east-1:<account>:parameter/fleetbot/runners/${spec.name}/*`,
        );
      }
    });

    it("keep fleet foo out of fleet foo-bar's credentials, and foo-bar out of foo's", () => {
      const fleets = [fargate, ec2].flatMap((spec) => ['foo', 'foo-bar'].map((name) => ({ ...spec, name })));
      const arnOf = (fleet: string, runner: string) => parameterArn(runnerParameterName(fleet, runner));
      for (const spec of fleets) {
        const own = runnerCredentialResource(spec, 'aws', '123456789012');
        const other = spec.name === 'foo' ? 'foo-bar' : 'foo';
        expect(iamResourceMatches(own, arnOf(other, `${other}-41-abc123`))).toBe(false);
        expect(iamResourceMatches(own, arnOf(spec.name, `${spec.name}-41-abc123`))).toBe(true);
        // Nor anything in the layout before per-fleet paths, where foo-* matched foo-bar-….
        expect(iamResourceMatches(own, parameterArn(`/fleetbot/runners/${spec.name}-41-abc123`))).toBe(false);
        expect(iamResourceMatches(own, parameterArn(`/fleetbot/runners/${other}-41-abc123`))).toBe(false);
      }
    });

    it('size the Fargate task from the request, 1 vCPU and 2 GiB when it names none', () => {
      const sized = only(synth(provisionedFargateFleet(SUBNET, { cpu: 2048, memoryMiB: 4096 })), 'aws_ecs_task_definition');
      expect(sized).toMatchObject({ cpu: '2048', memory: '4096' });
      expect(JSON.parse(sized.container_definitions as string)).toEqual([expect.objectContaining({ name: 'runner', memory: 4096 })]);
      const unsized = only(synth(provisionedFargateFleet(SUBNET, { cpu: undefined, memoryMiB: undefined })), 'aws_ecs_task_definition');
      expect(unsized).toMatchObject({ cpu: '1024', memory: '2048' });
    });

    it('find the newest AMI by name when the request gives a name filter', () => {
      const json = synth(provisionedEc2Fleet(SUBNET, { image: 'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*' }));
      expect(Object.values(json.data?.aws_ami ?? {})).toEqual([
        {
          most_recent: true,
          owners: ['self', 'amazon', '099720109477'],
          filter: [
            { name: 'name', values: ['ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*'] },
            { name: 'state', values: ['available'] },
          ],
        },
      ]);
      expect(only(json, 'aws_launch_template').image_id).toMatch(/^\$\{data\.aws_ami\.[\w-]+\.id\}$/);
      expect(only(synth(ec2), 'aws_launch_template').image_id).toBe('ami-0123456789abcdef0');
    });
  });
});

describe('liveFleetSpec', () => {
  const value = <T>(v: T) => ({ value: v });

  it('fills in the security group Terraform created for a Fargate fleet', () => {
    const live = liveFleetSpec(fargate, {
      cluster: value('fleetbot-linux-small'),
      task_definition: value('fleetbot-linux-small'),
      container_name: value('runner'),
      subnets: value([SUBNET]),
      security_groups: value(['sg-0f00f00f00f00f00f']),
    });
    expect(live).toEqual({ ...fargate, compute: { ...fargate.compute, securityGroups: ['sg-0f00f00f00f00f00f'] } });
  });

  it('names the launch template of an EC2 fleet', () => {
    const live = liveFleetSpec(ec2, {
      launch_template: value('fleetbot-linux-vm'),
      launch_template_id: value('lt-0123456789abcdef0'),
      subnets: value([SUBNET]),
      security_groups: value(['sg-0f00f00f00f00f00f']),
    });
    expect(live).toEqual(ec2);
  });

  it('says which outputs are missing', () => {
    expect(() => liveFleetSpec(fargate, { cluster: value('fleetbot-linux-small') })).toThrow(
      /fleet linux-small: terraform output lacks "task_definition", "container_name", "subnets", "security_groups"/,
    );
  });

  it('refuses outputs of the wrong shape', () => {
    expect(() =>
      liveFleetSpec(ec2, {
        launch_template: value('fleetbot-linux-vm'),
        launch_template_id: value('lt-1'),
        subnets: value('subnet-1'),
        security_groups: value([]),
      }),
    ).toThrow(/fleet linux-vm: unexpected terraform output: .*subnets/);
  });
});
