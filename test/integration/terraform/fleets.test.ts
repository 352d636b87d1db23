import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  ModifyVpcAttributeCommand,
} from '@aws-sdk/client-ec2';
import { DescribeClustersCommand, DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { liveFleetSpec } from '../../../src/fleets/live-spec.js';
import { synthesizeFleet } from '../../../cdktf/synth.js';
import { EcsBackend } from '../../../src/compute/ecs.js';
import { fleetSpecSchema, type FleetSpec } from '../../../src/fleets/spec.js';
import { TerraformCli } from '../../../src/terraform/cli.js';
import { TerraformError, type PlanResult } from '../../../src/terraform/types.js';
import { clientsFor, fleetbotTasks, tagOf } from '../../helpers/aws-fixture.js';
import { freePort, startMoto, type Moto } from '../../helpers/moto.js';
import {
  describeWithTerraform,
  provisionedEc2Fleet,
  provisionedFargateFleet,
  providerSettingsFor,
  terraformBinary,
  terraformEnvFor,
  terraformMirror,
} from '../../helpers/terraform.js';

/**
 * Real terraform against one moto: a fleet's synthesized Terraform is planned, applied from the saved
 * plan, read back into a live FleetSpec, found unchanged by the next plan, and destroyed.
 */

const REPO_ROOT = new URL('../../..', import.meta.url);
// Each command pays ~5 s of provider start-up; a lifecycle is ~8 commands and ECS waits 10 s twice.
const LIFECYCLE_TIMEOUT_MS = 240_000;

const timings: Record<string, Record<string, number>> = {};

async function timed<T>(kind: string, step: string, operation: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await operation();
  } finally {
    (timings[kind] ??= {})[step] = Date.now() - started;
  }
}

function expectCounts(plan: PlanResult, add: number, change: number, destroy: number): void {
  expect({ add: plan.add, change: plan.change, destroy: plan.destroy }).toEqual({ add, change, destroy });
  expect(plan.summary).toBe(`Plan: ${add} to add, ${change} to change, ${destroy} to destroy.`);
  expect(plan.text).toContain(plan.summary);
}

async function errorOf(promise: Promise<unknown>): Promise<TerraformError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TerraformError);
  return error as TerraformError;
}

describeWithTerraform('fleet Terraform against moto', () => {
  let moto: Moto;
  let workdir: string;
  let subnetId: string;
  let cli: TerraformCli;

  beforeAll(async () => {
    moto = await startMoto();
    workdir = await mkdtemp(join(tmpdir(), 'fleetbot-terraform-'));
    const { ec2 } = clientsFor(moto);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
    // moto refuses awsvpc tasks without DNS hostnames on the VPC.
    await ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpc.Vpc!.VpcId!, EnableDnsHostnames: { Value: true } }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: '10.0.1.0/24' }));
    subnetId = subnet.Subnet!.SubnetId!;
    await moto.holdEcsTasksRunning();
    cli = new TerraformCli({
      binary: terraformBinary,
      pluginMirror: terraformMirror,
      timeoutMs: 180_000,
      stateDir: join(workdir, 'cli'),
      env: terraformEnvFor(moto),
      secrets: [],
    });
  });

  afterAll(async () => {
    await moto?.stop();
    if (workdir) await rm(workdir, { recursive: true, force: true });
    console.log(`terraform timings (ms): ${JSON.stringify(timings)}`);
  });

  /** Writes the fleet's Terraform JSON to its own directory and initialises it. */
  async function fleetDir(spec: FleetSpec, kind: string): Promise<string> {
    const dir = join(workdir, spec.name);
    await mkdir(dir, { recursive: true });
    const json = await timed(kind, 'synth', async () =>
      synthesizeFleet(spec, { backend: { type: 'local' }, provider: providerSettingsFor(moto.url) }),
    );
    await writeFile(join(dir, 'cdk.tf.json'), json);
    await timed(kind, 'init', () => cli.init(dir));
    return dir;
  }

  // Concurrent: each command mostly waits for provider start-up or for moto.
  it.concurrent(
    'builds a Fargate fleet that launches a runner, finds nothing to change after apply, and destroys it',
    async () => {
      const { ecs, ec2 } = clientsFor(moto);
      const spec = provisionedFargateFleet(subnetId);
      const dir = await fleetDir(spec, 'ecs');

      const create = await timed('ecs', 'plan', () => cli.plan(dir, join(dir, 'create.tfplan')));
      // Cluster, capacity providers, log group, execution role + policy attachment, task role + policy,
      // task definition, security group.
      expectCounts(create, 9, 0, 0);
      await timed('ecs', 'apply', () => cli.apply(dir, join(dir, 'create.tfplan')));

      // A saved plan applies once.
      const stale = await errorOf(cli.apply(dir, join(dir, 'create.tfplan')));
      expect(stale.exitCode).toBe(1);
      expect(stale.tail).toContain('Saved plan is stale');

      const live = liveFleetSpec(spec, await timed('ecs', 'output', () => cli.output(dir)));
      if (live.compute.type !== 'ecs') throw new Error('expected an ECS fleet');
      expect(live.compute).toMatchObject({
        cluster: 'fleetbot-linux-small',
        taskDefinition: 'fleetbot-linux-small',
        containerName: 'runner',
        subnets: [subnetId],
      });
      expect(live.compute.securityGroups).toEqual([expect.stringMatching(/^sg-/)]);

      const unchanged = await timed('ecs', 'plan after apply', () => cli.plan(dir, join(dir, 'again.tfplan')));
      expect(unchanged).toMatchObject({ add: 0, change: 0, destroy: 0, summary: expect.stringMatching(/^No changes\./) });

      const [cluster] = (await ecs.send(new DescribeClustersCommand({ clusters: [live.compute.cluster] }))).clusters ?? [];
      expect(cluster).toMatchObject({ clusterName: 'fleetbot-linux-small', status: 'ACTIVE' });
      const { taskDefinition, tags } = await ecs.send(
        new DescribeTaskDefinitionCommand({ taskDefinition: live.compute.taskDefinition, include: ['TAGS'] }),
      );
      expect(taskDefinition).toMatchObject({
        family: 'fleetbot-linux-small',
        networkMode: 'awsvpc',
        requiresCompatibilities: ['FARGATE'],
        cpu: '1024',
        memory: '2048',
        containerDefinitions: [expect.objectContaining({ name: 'runner', image: 'ghcr.io/acme/runner:2.329.0', memory: 2048 })],
      });
      expect(tags).toEqual(
        expect.arrayContaining([
          { key: 'fleetbot:fleet', value: 'linux-small' },
          { key: 'fleetbot:managed-by', value: 'fleetbot' },
        ]),
      );
      const [group] = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: live.compute.securityGroups }))).SecurityGroups ?? [];
      expect(group.IpPermissions).toEqual([]);

      // The app's own launch path, on what Terraform built. moto runs capacity-provider strategies on EC2
      // container instances only, so the runner goes by launch type FARGATE here.
      const backend = new EcsBackend(ecs);
      const byLaunchType = fleetSpecSchema.parse({ ...live, compute: { ...live.compute, capacityProviders: undefined } });
      const launched = await backend.launch(byLaunchType, {
        runnerName: 'linux-small-41-abc123',
        jobId: '41',
        credentialParameter: '/fleetbot/runners/linux-small/linux-small-41-abc123',
      });
      const [task] = (await fleetbotTasks(moto, live.compute.cluster)).filter((candidate) => candidate.taskArn === launched.computeId);
      expect(task.lastStatus).toBe('RUNNING');
      expect(tagOf(task, 'fleetbot:runner')).toBe('linux-small-41-abc123');
      expect(task.attachments?.[0]?.details).toEqual(expect.arrayContaining([{ name: 'subnetId', value: subnetId }]));
      await backend.stop(live, launched.computeId, 'test over');

      const teardown = await timed('ecs', 'destroy plan', () => cli.plan(dir, join(dir, 'destroy.tfplan'), { destroy: true }));
      expectCounts(teardown, 0, 0, 9);
      await timed('ecs', 'destroy apply', () => cli.apply(dir, join(dir, 'destroy.tfplan')));

      const afterDestroy = await ecs.send(new DescribeClustersCommand({ clusters: [live.compute.cluster] }));
      expect((afterDestroy.clusters ?? []).filter((remaining) => remaining.status === 'ACTIVE')).toEqual([]);
      await expect(ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: live.compute.securityGroups }))).rejects.toThrow(
        /InvalidGroup.NotFound|does not exist/,
      );
      expect(await cli.output(dir)).toEqual({});
    },
    LIFECYCLE_TIMEOUT_MS,
  );

  it.concurrent(
    'builds an EC2 fleet whose launch template boots the runner script, finds nothing to change after apply, and destroys it',
    async () => {
      const { ec2 } = clientsFor(moto);
      const spec = provisionedEc2Fleet(subnetId);
      const dir = await fleetDir(spec, 'ec2');

      const create = await timed('ec2', 'plan', () => cli.plan(dir, join(dir, 'create.tfplan')));
      // Instance role + policy, instance profile, security group, launch template.
      expectCounts(create, 5, 0, 0);
      await timed('ec2', 'apply', () => cli.apply(dir, join(dir, 'create.tfplan')));

      const outputs = await timed('ec2', 'output', () => cli.output(dir));
      const live = liveFleetSpec(spec, outputs);
      expect(live.compute).toMatchObject({ type: 'ec2', launchTemplate: 'fleetbot-linux-vm', subnets: [subnetId] });

      const unchanged = await timed('ec2', 'plan after apply', () => cli.plan(dir, join(dir, 'again.tfplan')));
      expect(unchanged).toMatchObject({ add: 0, change: 0, destroy: 0, summary: expect.stringMatching(/^No changes\./) });

      const { LaunchTemplateVersions: [version] = [] } = await ec2.send(
        new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: 'fleetbot-linux-vm', Versions: ['$Default'] }),
      );
      expect(version.LaunchTemplateId).toBe(outputs.launch_template_id.value);
      const data = version.LaunchTemplateData!;
      const script = await readFile(new URL('images/ec2/runner-user-data.sh', REPO_ROOT), 'utf8');
      expect(Buffer.from(data.UserData ?? '', 'base64').toString('utf8')).toBe(script);
      expect(data).toMatchObject({
        // moto's Canonical xenial AMI, found by the name filter.
        ImageId: 'ami-785db401',
        InstanceInitiatedShutdownBehavior: 'terminate',
        MetadataOptions: expect.objectContaining({ HttpTokens: 'required', InstanceMetadataTags: 'enabled' }),
        IamInstanceProfile: { Arn: expect.stringMatching(/:instance-profile\/fleetbot-linux-vm-instance$/) },
        SecurityGroupIds: outputs.security_groups.value,
      });
      expect(data.TagSpecifications?.map((spec) => spec.ResourceType).sort()).toEqual(['instance', 'volume']);

      const teardown = await timed('ec2', 'destroy plan', () => cli.plan(dir, join(dir, 'destroy.tfplan'), { destroy: true }));
      expectCounts(teardown, 0, 0, 5);
      await timed('ec2', 'destroy apply', () => cli.apply(dir, join(dir, 'destroy.tfplan')));

      await expect(ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ['fleetbot-linux-vm'] }))).rejects.toThrow();
      await expect(ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: outputs.security_groups.value as string[] }))).rejects.toThrow(
        /InvalidGroup.NotFound|does not exist/,
      );
    },
    LIFECYCLE_TIMEOUT_MS,
  );

  it.concurrent(
    'reports a plan against a stopped endpoint with its exit code and a tail without secrets',
    async () => {
      const token = `ghs_${'a1B2c3D4e5'.repeat(4)}`;
      // Nothing listens there; the token in the path shows up in the provider's error messages.
      const stopped = `http://127.0.0.1:${await freePort()}/${token}`;
      const dir = join(workdir, 'stopped-endpoint');
      await mkdir(dir, { recursive: true });
      await writeFile(
        join(dir, 'cdk.tf.json'),
        synthesizeFleet(provisionedFargateFleet(subnetId), { backend: { type: 'local' }, provider: providerSettingsFor(stopped) }),
      );
      await cli.init(dir);

      const error = await errorOf(cli.plan(dir, join(dir, 'never.tfplan')));
      expect(error).toMatchObject({ exitCode: 1, timedOut: false });
      expect(error.command).toMatch(/^\S*(terraform|tofu) plan /);
      expect(error.message).toMatch(/failed with exit code 1: Error: /);
      expect(error.tail).toMatch(/connection refused/);
      expect(error.tail).toContain('[REDACTED]');
      expect(error.tail).not.toContain(token);
      expect(error.tail.split('\n').length).toBeLessThanOrEqual(60);
    },
    LIFECYCLE_TIMEOUT_MS,
  );
});

describe('TerraformCli process handling', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetbot-terraform-cli-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** Running, as opposed to gone or a zombie that nobody reaps (PID 1 in a container may not). */
  async function isRunning(pid: number): Promise<boolean> {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return stat !== '' && !/^\d+ \(.*\) Z /.test(stat);
  }

  it('interrupts a command that outlives its timeout, then kills its whole process group', async () => {
    // Stands in for terraform and a provider plugin that ignores SIGINT (as go-plugin plugins do).
    const binary = join(dir, 'slow-terraform');
    await writeFile(
      binary,
      [
        '#!/bin/sh',
        `(trap '' INT; exec sleep 300) >/dev/null 2>&1 &`,
        `echo $! > "${join(dir, 'plugin.pid')}"`,
        'echo "Initializing with AKIAIOSFODNN7EXAMPLE" >&2',
        'sleep 300',
        '',
      ].join('\n'),
    );
    await chmod(binary, 0o755);
    const cli = new TerraformCli({
      binary,
      pluginMirror: null,
      timeoutMs: 1_000,
      stateDir: join(dir, 'state'),
      env: process.env,
      secrets: [],
    });

    const error = await errorOf(cli.init(dir));
    expect(error).toMatchObject({ timedOut: true, command: `${binary} init -input=false -no-color` });
    expect(error.message).toMatch(/timed out/);
    expect(error.tail).toBe('Initializing with [REDACTED]');
    const plugin = Number(await readFile(join(dir, 'plugin.pid'), 'utf8'));
    for (let waited = 0; (await isRunning(plugin)) && waited < 2_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await isRunning(plugin)).toBe(false);
  });

  it('runs terraform with exactly the environment given plus its own CLI configuration, without a shell, its output redacted', async () => {
    const binary = join(dir, 'env-terraform');
    await writeFile(
      binary,
      [
        '#!/bin/sh',
        'echo "$TF_IN_AUTOMATION $TF_INPUT $FLEETBOT_EXTRA $APP_SECRET ${HOME:-no-home}"',
        'cat "$TF_CLI_CONFIG_FILE"',
        'echo "args: $*"',
        '',
      ].join('\n'),
    );
    await chmod(binary, 0o755);
    const mirror = join(dir, 'mirror');
    const cli = new TerraformCli({
      binary,
      pluginMirror: mirror,
      timeoutMs: 10_000,
      stateDir: join(dir, 'state'),
      // Exactly this environment: nothing of the test process's (no HOME) is added.
      env: { PATH: process.env.PATH, FLEETBOT_EXTRA: 'x', APP_SECRET: 'an-app-secret' },
      secrets: ['an-app-secret'],
    });

    const stdout = await cli.apply(dir, 'plan file; touch injected');
    expect(stdout).toContain('1 0 x [REDACTED] no-home');
    expect(stdout).toContain(`plugin_cache_dir = ${JSON.stringify(join(dir, 'state', 'plugin-cache'))}`);
    expect(stdout).toContain(`path = ${JSON.stringify(mirror)}`);
    expect(stdout).toContain('args: apply -input=false -no-color plan file; touch injected');
    await expect(readFile(join(dir, 'injected'))).rejects.toThrow(/ENOENT/);
  });

  it('saves a plan, then counts its changes from `show -json` as terraform does', async () => {
    const binary = join(dir, 'planning-terraform');
    const show = {
      resource_changes: [
        { mode: 'managed', change: { actions: ['create'] } },
        { mode: 'managed', change: { actions: ['update'] } },
        { mode: 'managed', change: { actions: ['delete', 'create'] } },
        { mode: 'managed', change: { actions: ['delete'] } },
        { mode: 'managed', change: { actions: ['no-op'] } },
        { mode: 'data', change: { actions: ['read'] } },
      ],
    };
    await writeFile(
      binary,
      [
        '#!/bin/sh',
        `echo "$*" >> "${join(dir, 'planning.log')}"`,
        `case "$1" in plan) echo "Plan: 2 to add, 1 to change, 2 to destroy." ;; show) echo '${JSON.stringify(show)}' ;; esac`,
        '',
      ].join('\n'),
    );
    await chmod(binary, 0o755);
    const cli = new TerraformCli({
      binary,
      pluginMirror: null,
      timeoutMs: 10_000,
      stateDir: join(dir, 'state'),
      env: process.env,
      secrets: [],
    });

    const plan = await cli.plan(dir, 'fleet.tfplan', { destroy: true });
    expect(plan).toMatchObject({ add: 2, change: 1, destroy: 2, summary: 'Plan: 2 to add, 1 to change, 2 to destroy.' });
    expect(plan.text).toBe('Plan: 2 to add, 1 to change, 2 to destroy.\n');
    expect(plan.durationsMs).toEqual({ plan: expect.any(Number), show: expect.any(Number) });
    expect(await readFile(join(dir, 'planning.log'), 'utf8')).toBe(
      'plan -input=false -no-color -out=fleet.tfplan -destroy\nshow -json -no-color fleet.tfplan\n',
    );
  });

  it('reports a binary that does not exist', async () => {
    const cli = new TerraformCli({
      binary: join(dir, 'no-such-terraform'),
      pluginMirror: null,
      timeoutMs: 10_000,
      stateDir: join(dir, 'state'),
      env: process.env,
      secrets: [],
    });
    const error = await errorOf(cli.output(dir));
    expect(error).toMatchObject({ exitCode: null, timedOut: false });
    expect(error.tail).toMatch(/ENOENT/);
  });
});
