import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { SynthSettings } from '../../../src/terraform/settings.js';
import { EXIT } from '../../../src/cli/command.js';
import { main } from '../../../src/cli/main.js';
import { createSynthCommand, type Synthesize } from '../../../src/cli/synth.js';
import type { FleetSpec } from '../../../src/fleets/spec.js';
import { captureContext } from './cli-context.js';

const SUBNET = 'subnet-0123456789abcdef0';
const IMAGE = 'ghcr.io/acme/github-runner:2.330.0';

const fleets = {
  'linux-small': {
    name: 'linux-small',
    labels: ['self-hosted', 'linux'],
    maxRunners: 5,
    compute: {
      type: 'ecs',
      cluster: 'fleetbot-linux-small',
      taskDefinition: 'fleetbot-linux-small',
      containerName: 'runner',
      subnets: [SUBNET],
    },
  },
  'linux-vm': {
    name: 'linux-vm',
    labels: ['self-hosted', 'vm'],
    maxRunners: 5,
    compute: { type: 'ec2', launchTemplate: 'fleetbot-linux-vm', instanceTypes: ['m7i.large'], subnets: [SUBNET] },
  },
  requested: {
    name: 'requested',
    labels: ['self-hosted', 'requested'],
    maxRunners: 5,
    compute: {
      type: 'ecs',
      cluster: 'fleetbot-requested',
      taskDefinition: 'fleetbot-requested',
      subnets: [SUBNET],
      securityGroups: ['sg-0123456789abcdef0'],
    },
    provision: { region: 'eu-west-1', image: IMAGE, cpu: 2048, memoryMiB: 4096, securityGroups: ['sg-0123456789abcdef0'], requestIssue: 7 },
  },
  'gitlab-docker': {
    name: 'gitlab-docker',
    ci: 'gitlab',
    labels: ['docker'],
    maxRunners: 5,
    gitlab: {
      tokenParameter: '/fleetbot/gitlab/runner-token',
      apiTokenParameter: '/fleetbot/gitlab/api-token',
      webhookSecretParameter: '/fleetbot/gitlab/webhook-secret',
    },
    compute: { type: 'ecs', cluster: 'gitlab', taskDefinition: 'gitlab-runner', subnets: [SUBNET] },
  },
  'circleci-vm': {
    name: 'circleci-vm',
    ci: 'circleci',
    labels: ['vm'],
    maxRunners: 5,
    circleci: {
      resourceClass: 'acme/vm',
      runnerTokenParameter: '/fleetbot/circleci/runner-token',
      apiTokenParameter: '/fleetbot/circleci/api-token',
    },
    compute: { type: 'ec2', launchTemplate: 'circleci-vm', instanceTypes: ['m7i.large'], subnets: [SUBNET] },
  },
  'asg-pool': { name: 'asg-pool', labels: ['pool'], maxRunners: 5, compute: { type: 'asg', autoScalingGroup: 'runners' } },
  'ecs-on-ec2': {
    name: 'ecs-on-ec2',
    labels: ['big'],
    maxRunners: 5,
    compute: { type: 'ecs', cluster: 'big', taskDefinition: 'runner', subnets: [SUBNET], capacityProviders: ['big-instances'] },
  },
  'pinned-revision': {
    name: 'pinned-revision',
    labels: ['pinned'],
    maxRunners: 5,
    compute: { type: 'ecs', cluster: 'runners', taskDefinition: 'gh-runner:3', subnets: [SUBNET] },
  },
  'template-id': {
    name: 'template-id',
    labels: ['id'],
    maxRunners: 5,
    compute: { type: 'ec2', launchTemplate: 'lt-0123456789abcdef0', instanceTypes: ['m7i.large'], subnets: [SUBNET] },
  },
};

interface SynthCall {
  spec: FleetSpec;
  settings: SynthSettings;
}

let dir: string;
let calls: SynthCall[];

const fakeSynthesize: Synthesize = (spec, settings) => {
  calls.push({ spec, settings });
  return JSON.stringify({
    resource: {
      aws_ecs_task_definition: { fleet_task: { family: spec.name } },
      aws_iam_role_policy_attachment: {
        fleet_policy: { role: '${aws_iam_role.x.name}', '//': { metadata: { path: `fleetbot-${spec.name}/fleet/execution-policy` } } },
      },
    },
  });
};

/** `fleetbot <argv>` in `dir`, with cdktf/synth.ts replaced by a recorder. */
async function fleetbot(argv: string[], env: NodeJS.ProcessEnv = {}, synthesize: Synthesize = fakeSynthesize) {
  const context = captureContext(dir, env);
  const synth = createSynthCommand({ importSynth: async () => ({ synthesizeFleet: synthesize }) });
  const code = await main(argv, context, { synth });
  return { code, stdout: context.stdout(), stderr: context.stderr() };
}

function writeFleetsFile(file: string, content: Record<string, unknown>): void {
  writeFileSync(join(dir, file), stringify(content));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetbot-cli-'));
  calls = [];
  writeFleetsFile('fleetbot.yml', { fleets: Object.values(fleets) });
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('fleetbot synth', () => {
  it('writes an ECS fleet to ./infra/<fleet>/cdk.tf.json from the flags, and says what to run next', async () => {
    const { code, stdout, stderr } = await fleetbot(['synth', 'linux-small', '--image', IMAGE, '--cpu', '2', '--memory', '8'], {
      AWS_REGION: 'eu-central-1',
    });
    expect({ code, stderr }).toEqual({ code: EXIT.ok, stderr: '' });
    expect(calls).toHaveLength(1);
    expect(calls[0].spec).toEqual({
      ...fleets['linux-small'],
      ci: 'github',
      runnerGroupId: 1,
      credentials: 'jit',
      idleTimeoutSeconds: 300,
      compute: { ...fleets['linux-small'].compute, securityGroups: [], assignPublicIp: false },
      provision: { region: 'eu-central-1', image: IMAGE, cpu: 2048, memoryMiB: 8192, securityGroups: [] },
    });
    // No issueops section: the defaults IssueOps itself would use.
    expect(calls[0].settings).toEqual({
      backend: { type: 'local' },
      provider: { skipCredentialsValidation: false, skipRequestingAccountId: false, skipMetadataApiCheck: false, s3UsePathStyle: false },
    });
    expect(readFileSync(join(dir, 'infra/linux-small/cdk.tf.json'), 'utf8')).toContain('"family":"linux-small"');
    expect(stdout.split('\n')).toEqual([
      'Wrote infra/linux-small/cdk.tf.json: fleet linux-small (github, ECS Fargate) from ./fleetbot.yml',
      '  region eu-central-1 (AWS_REGION)',
      `  image ${IMAGE} (--image)`,
      '  size 2 vCPU, 8 GiB (--cpu, --memory)',
      "  security group: a new one, in the subnets' VPC (compute.securityGroups is empty)",
      'Resources:',
      '  aws_ecs_task_definition         linux-small',
      '  aws_iam_role_policy_attachment  fleet/execution-policy',
      "State: infra/linux-small/terraform.tfstate (local: keep it, it is Terraform's record of the fleet)",
      'Next:',
      '  terraform -chdir=infra/linux-small init',
      '  terraform -chdir=infra/linux-small plan -out=fleet.tfplan',
      '  terraform -chdir=infra/linux-small apply fleet.tfplan',
      'Then set compute.securityGroups of fleet linux-small in ./fleetbot.yml to the group Terraform created:',
      '  terraform -chdir=infra/linux-small output -json security_groups',
    ]);
  });

  it('defaults to 1 vCPU, 2 GiB per vCPU and us-east-1', async () => {
    expect((await fleetbot(['synth', 'linux-small', '--image', IMAGE])).code).toBe(EXIT.ok);
    expect((await fleetbot(['synth', 'linux-small', '--image', IMAGE, '--cpu', '4'])).code).toBe(EXIT.ok);
    expect(calls.map(({ spec }) => spec.provision)).toEqual([
      { region: 'us-east-1', image: IMAGE, cpu: 1024, memoryMiB: 2048, securityGroups: [] },
      { region: 'us-east-1', image: IMAGE, cpu: 4096, memoryMiB: 8192, securityGroups: [] },
    ]);
  });

  it('writes where --out says, and finds the fleets file through FLEETBOT_CONFIG', async () => {
    writeFleetsFile('other.yml', { fleets: [fleets['linux-vm']] });
    const { code, stdout } = await fleetbot(
      ['synth', 'linux-vm', '--image', 'ami-0123456789abcdef0', '--security-group', 'sg-0123456789abcdef0', '--out', 'tf/vm'],
      { FLEETBOT_CONFIG: 'other.yml' },
    );
    expect(code).toBe(EXIT.ok);
    expect(readFileSync(join(dir, 'tf/vm/cdk.tf.json'), 'utf8')).toContain('linux-vm');
    expect(calls[0].spec.provision).toEqual({
      region: 'us-east-1',
      image: 'ami-0123456789abcdef0',
      securityGroups: ['sg-0123456789abcdef0'],
    });
    expect(stdout).toContain('Wrote tf/vm/cdk.tf.json: fleet linux-vm (github, EC2) from other.yml');
    expect(stdout).toContain('terraform -chdir=tf/vm init');
    // The launch template carries its security groups: nothing to copy back into the fleets file.
    expect(stdout).not.toContain('compute.securityGroups');
  });

  it('quotes a directory the shell would split in the commands it prints', async () => {
    const { code, stdout } = await fleetbot(['synth', 'linux-small', '--image', IMAGE, '--out', "ops team's/linux small"]);
    expect(code).toBe(EXIT.ok);
    expect(readFileSync(join(dir, "ops team's/linux small/cdk.tf.json"), 'utf8')).toContain('linux-small');
    expect(stdout).toContain(`  terraform -chdir='ops team'\\''s/linux small' init`);
  });

  it("uses the fleet's own provision block as it is, as IssueOps does", async () => {
    expect((await fleetbot(['synth', 'requested'])).code).toBe(EXIT.ok);
    expect(calls[0].spec.provision).toEqual(fleets.requested.provision);
  });

  it("passes the fleets file's issueops.terraform backend and provider settings, and names its binary and mirror", async () => {
    const terraform = {
      binary: 'tofu',
      pluginMirror: '/opt/tf-plugins',
      backend: { type: 's3', bucket: 'acme-state', region: 'us-east-1' },
      provider: { endpoints: { ec2: 'http://127.0.0.1:5000' }, skipCredentialsValidation: true },
    };
    writeFleetsFile('fleetbot.yml', { fleets: [fleets['linux-small']], issueops: { repository: 'acme/fleets', terraform } });
    const { code, stdout } = await fleetbot(['synth', 'linux-small', '--image', IMAGE]);
    expect(code).toBe(EXIT.ok);
    expect(calls[0].settings).toEqual({
      backend: { type: 's3', bucket: 'acme-state', region: 'us-east-1', keyPrefix: 'fleetbot' },
      provider: {
        endpoints: { ec2: 'http://127.0.0.1:5000' },
        skipCredentialsValidation: true,
        skipRequestingAccountId: false,
        skipMetadataApiCheck: false,
        s3UsePathStyle: false,
      },
    });
    expect(stdout).toContain('State: s3://acme-state/fleetbot/linux-small.tfstate (issueops.terraform.backend)');
    expect(stdout).toContain('  tofu -chdir=infra/linux-small init');
    expect(stdout).toContain('provider_installation { filesystem_mirror { path = "/opt/tf-plugins" } }');
  });

  it('builds a GitLab fleet on ECS from its runner image', async () => {
    expect((await fleetbot(['synth', 'gitlab-docker', '--image', 'ghcr.io/acme/gitlab-runner:17.6.0'])).code).toBe(EXIT.ok);
    expect(calls[0].spec).toMatchObject({ ci: 'gitlab', provision: { image: 'ghcr.io/acme/gitlab-runner:17.6.0' } });
  });

  describe('exits 2', () => {
    it('for an unknown fleet, listing the fleets', async () => {
      const { code, stderr } = await fleetbot(['synth', 'linux-large']);
      expect(code).toBe(EXIT.usage);
      expect(stderr).toBe(`fleetbot synth: no fleet named linux-large in ./fleetbot.yml; its fleets: ${Object.keys(fleets).join(', ')}`);
      expect(calls).toEqual([]);
    });

    it('for a missing or extra fleet name, or an unknown or valueless option, with the usage', async () => {
      for (const argv of [
        ['synth'],
        ['synth', 'linux-small', 'linux-vm'],
        ['synth', 'linux-small', '--size', '2'],
        ['synth', 'linux-small', '--image'],
      ]) {
        const { code, stderr } = await fleetbot(argv);
        expect({ argv, code }).toEqual({ argv, code: EXIT.usage });
        expect(stderr).toContain('Usage: fleetbot synth <fleet> [options]');
      }
      expect(calls).toEqual([]);
    });

    it('naming each missing or invalid input', async () => {
      const { code, stderr } = await fleetbot([
        'synth',
        'linux-small',
        '--region',
        'Frankfurt',
        '--cpu',
        '3',
        '--security-group',
        'sg-0123456789abcdef0',
      ]);
      expect(code).toBe(EXIT.usage);
      expect(stderr.split('\n')).toEqual([
        'fleetbot synth: cannot build fleet linux-small:',
        '  - --region: expected an AWS region like us-east-1',
        "  - --image: required: the runner's container image (built from images/github-runner), e.g. ghcr.io/acme/runner:2.330.0",
        '  - --cpu: expected one of 0.25, 0.5, 1, 2, 4, 8, 16 (vCPU)',
        '  - --security-group: an ECS fleet runs in its compute.securityGroups: set them in the fleets file (none: Terraform creates a group)',
        '(fleetbot synth --help lists the options)',
      ]);
      expect(calls).toEqual([]);
    });

    it('for a size Fargate does not offer', async () => {
      const { code, stderr } = await fleetbot(['synth', 'linux-small', '--image', IMAGE, '--cpu', '1', '--memory', '16']);
      expect(code).toBe(EXIT.usage);
      expect(stderr).toContain('  - --memory: expected one of 2, 3, 4, 5, 6, 7, 8 GiB for 1 vCPU; got 16');
      // With no valid vCPU to size against, only --cpu is wrong.
      const badCpu = await fleetbot(['synth', 'linux-small', '--image', IMAGE, '--cpu', '3', '--memory', '16']);
      expect(badCpu.stderr).not.toContain('--memory');
      const notNumbers = await fleetbot(['synth', 'linux-small', '--image', IMAGE, '--cpu', 'two', '--memory', 'lots']);
      expect(notNumbers.stderr).toContain('  - --cpu: expected a number like 1 or 0.5');
      expect(notNumbers.stderr).toContain('  - --memory: expected a number like 1 or 0.5');
    });

    it('for a provision block whose size Fargate does not offer', async () => {
      writeFleetsFile('fleetbot.yml', { fleets: [{ ...fleets.requested, provision: { ...fleets.requested.provision, memoryMiB: 1024 } }] });
      const { code, stderr } = await fleetbot(['synth', 'requested']);
      expect(code).toBe(EXIT.usage);
      expect(stderr).toContain('  - provision.cpu and provision.memoryMiB (2048 CPU units, 1024 MiB): expected one of 4, 5');
    });

    it('naming AWS_REGION when the region it gives is invalid', async () => {
      const { stderr } = await fleetbot(['synth', 'linux-small', '--image', IMAGE], { AWS_REGION: 'moon' });
      expect(stderr).toContain('  - AWS_REGION: expected an AWS region like us-east-1');
    });

    it('for the wrong kind of image, and for a size given to an EC2 fleet', async () => {
      const ecs = await fleetbot(['synth', 'linux-small', '--image', 'ami-0123456789abcdef0']);
      expect(ecs.stderr).toContain('  - --image: expected a container image like ghcr.io/acme/runner:2.330.0, not an AMI');
      const ec2 = await fleetbot(['synth', 'linux-vm', '--image', 'ami-12', '--cpu', '2']);
      expect(ec2.code).toBe(EXIT.usage);
      expect(ec2.stderr).toContain('  - --image: expected an AMI id like ami-0123456789abcdef0 (8-17 hex digits)');
      expect(ec2.stderr).toContain('  - --cpu: applies to ECS Fargate fleets; an EC2 fleet is sized by compute.instanceTypes');
    });

    it('for flags given to a fleet whose provision block sets the inputs', async () => {
      const { code, stderr } = await fleetbot(['synth', 'requested', '--image', IMAGE]);
      expect(code).toBe(EXIT.usage);
      expect(stderr).toContain('  - --image: fleet requested has a provision block in the fleets file');
    });
  });

  describe('exits 1', () => {
    it.each([
      ['asg-pool', 'fleet asg-pool runs on the Auto Scaling group runners, which is built outside fleetbot'],
      ['ecs-on-ec2', 'fleet ecs-on-ec2 runs its tasks on EC2 container instances'],
      ['pinned-revision', 'compute.taskDefinition "gh-runner:3" is a revision or an ARN'],
      ['template-id', 'compute.launchTemplate is an id (lt-0123456789abcdef0)'],
      ['circleci-vm', 'fleet circleci-vm serves circleci on EC2, but the launch template synth writes boots the GitHub Actions runner'],
    ])('for a fleet the constructs cannot build: %s', async (fleet, reason) => {
      const { code, stderr } = await fleetbot(['synth', fleet, '--image', 'ami-0123456789abcdef0']);
      expect(code).toBe(EXIT.failed);
      expect(stderr).toContain(reason);
      expect(calls).toEqual([]);
    });

    it('without a fleets file, naming where it looked', async () => {
      const { code, stderr } = await fleetbot(['synth', 'linux-small'], { FLEETBOT_CONFIG: 'missing.yml' });
      expect(code).toBe(EXIT.failed);
      expect(stderr).toBe(
        'fleetbot synth: no fleets file at missing.yml: write one (see fleetbot.example.yml), or point FLEETBOT_CONFIG at yours',
      );
    });

    it('for an invalid fleets file, with its problems', async () => {
      writeFleetsFile('fleetbot.yml', { fleets: [{ ...fleets['linux-small'], maxRunners: 0 }] });
      const { code, stderr } = await fleetbot(['synth', 'linux-small']);
      expect(code).toBe(EXIT.failed);
      expect(stderr).toContain('./fleetbot.yml is not a valid fleets file');
      expect(stderr).toContain('fleets[0] (linux-small).maxRunners');
    });

    it('when CDKTF is not installed, saying what to install', async () => {
      const context = captureContext(dir);
      const missing = Object.assign(new Error("Cannot find package 'cdktf'"), { code: 'ERR_MODULE_NOT_FOUND' });
      const synth = createSynthCommand({ importSynth: () => Promise.reject(missing) });
      expect(await main(['synth', 'linux-small', '--image', IMAGE], context, { synth })).toBe(EXIT.failed);
      expect(context.stderr()).toBe(
        "fleetbot synth: CDKTF is not installed (Cannot find package 'cdktf'); synth needs the optional dependencies " +
          'cdktf, @cdktf/provider-aws, constructs: `npm ci` without `--omit=optional`',
      );
    });

    it('when the stack refuses the settings, with its reason', async () => {
      const refusing: Synthesize = () => {
        throw new Error('unknown AWS provider endpoint name(s): elastic');
      };
      const { code, stderr } = await fleetbot(['synth', 'linux-small', '--image', IMAGE], {}, refusing);
      expect(code).toBe(EXIT.failed);
      expect(stderr).toBe('fleetbot synth: cannot synthesize fleet linux-small: unknown AWS provider endpoint name(s): elastic');
    });

    it('when the output cannot be written', async () => {
      writeFileSync(join(dir, 'taken'), 'a file, not a directory');
      const { code, stderr } = await fleetbot(['synth', 'linux-small', '--image', IMAGE, '--out', 'taken']);
      expect(code).toBe(EXIT.failed);
      expect(stderr).toMatch(/^fleetbot synth: cannot write .*taken\/cdk\.tf\.json: /);
    });
  });
});
