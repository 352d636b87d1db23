import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParametersByPathCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { appOctokit } from '../../../src/cli/app-environment.js';
import { EXIT } from '../../../src/cli/command.js';
import { createDoctorCommand, type CheckResult } from '../../../src/cli/doctor.js';
import { readAppManifest } from '../../../src/cli/doctor-github.js';
import { main } from '../../../src/cli/main.js';
import { createAwsClients } from '../../../src/aws.js';
import { testPrivateKey, WEBHOOK_SECRET } from '../../helpers/app-key.js';
import { createAsgRunnerInfra, createGroup } from '../../helpers/asg-fixture.js';
import { clientsFor, createRunnerInfra, ecsCompute, type RunnerInfra } from '../../helpers/aws-fixture.js';
import { FakeCircleCi } from '../../helpers/fake-circleci.js';
import { defaultAppSettings } from '../../helpers/fake-github-app.js';
import { startFakeGitHub, type FakeGitHub } from '../../helpers/fake-github.js';
import { startFaultyProxy, type FaultyProxy } from '../../helpers/faulty-proxy.js';
import { FakeGitLab } from '../../helpers/gitlab.js';
import { describeWithMoto, startMoto, type Moto } from '../../helpers/moto.js';
import { terraformBinary, terraformMirror } from '../../helpers/terraform.js';
import { captureContext } from '../../unit/cli/cli-context.js';

const GITLAB_TOKEN = 'glpat-doctor-test-token';
const CIRCLECI_TOKEN = 'circle-doctor-test-token';

/**
 * `fleetbot doctor` against moto (behind a proxy that can fail SSM calls), the fake GitHub, a fake GitLab and
 * a fake CircleCI: everything right first, then each check's failing case with its fix.
 */
describeWithMoto('fleetbot doctor', () => {
  let moto: Moto;
  let proxy: FaultyProxy;
  let github: FakeGitHub;
  let gitlab: FakeGitLab;
  let circleci: FakeCircleCi;
  let infra: RunnerInfra;
  let launchTemplate: string;
  let dir: string;
  let fleets: Record<string, unknown>[];
  let issueops: Record<string, unknown> | undefined;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    moto = await startMoto();
    proxy = await startFaultyProxy(moto.url);
    github = await startFakeGitHub();
    gitlab = await FakeGitLab.start(GITLAB_TOKEN);
    circleci = new FakeCircleCi();
    await circleci.start();
    circleci.validTokens.add(CIRCLECI_TOKEN);
    infra = await createRunnerInfra(moto);
    const asgInfra = await createAsgRunnerInfra(moto);
    launchTemplate = asgInfra.launchTemplateName;
    await createGroup(moto, asgInfra, 'fleetbot-asg');
    const { ssm } = clientsFor(moto);
    const secrets: Record<string, string> = {
      '/fleetbot/gitlab/api-token': GITLAB_TOKEN,
      '/fleetbot/gitlab/runner-token': 'glrt-doctor',
      '/fleetbot/gitlab/webhook-secret': 'gitlab-hook-secret',
      '/fleetbot/circleci/api-token': CIRCLECI_TOKEN,
      '/fleetbot/circleci/runner-token': 'circle-runner-token',
    };
    for (const [name, value] of Object.entries(secrets)) {
      await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString', Overwrite: true }));
    }
  });
  afterAll(async () => {
    await circleci?.stop();
    await gitlab?.stop();
    await github?.close();
    await proxy?.close();
    await moto?.stop();
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleetbot-doctor-'));
    Object.assign(github.appSettings, defaultAppSettings(github.url));
    // The App as app.yml registers it.
    const manifest = readAppManifest();
    github.appSettings.permissions = { ...manifest.permissions };
    github.appSettings.events = [...manifest.events];
    const compute = ecsCompute(infra);
    fleets = [
      { name: 'gh-ecs', labels: ['linux'], maxRunners: 2, compute },
      {
        name: 'gh-ec2',
        labels: ['ec2'],
        maxRunners: 2,
        compute: { type: 'ec2', launchTemplate, instanceTypes: ['m7i.large'], subnets: [infra.subnetId] },
      },
      { name: 'gh-asg', labels: ['asg'], maxRunners: 2, compute: { type: 'asg', autoScalingGroup: 'fleetbot-asg' } },
      {
        name: 'gl',
        ci: 'gitlab',
        labels: ['docker'],
        maxRunners: 2,
        compute,
        gitlab: {
          url: gitlab.url,
          apiTokenParameter: '/fleetbot/gitlab/api-token',
          tokenParameter: '/fleetbot/gitlab/runner-token',
          webhookSecretParameter: '/fleetbot/gitlab/webhook-secret',
        },
      },
      {
        name: 'cc',
        ci: 'circleci',
        labels: ['circle'],
        maxRunners: 2,
        compute,
        circleci: {
          url: circleci.url,
          resourceClass: 'acme/linux',
          apiTokenParameter: '/fleetbot/circleci/api-token',
          runnerTokenParameter: '/fleetbot/circleci/runner-token',
        },
      },
    ];
    issueops = { repository: 'acme/runner-fleets', terraform: { binary: terraformBinary, pluginMirror: terraformMirror } };
    env = {
      APP_ID: '1',
      PRIVATE_KEY: testPrivateKey(),
      WEBHOOK_SECRET,
      GHE_HOST: github.host,
      GHE_PROTOCOL: 'http',
      LOG_LEVEL: 'silent',
      AWS_ENDPOINT_URL: proxy.url,
      FLEETBOT_CONFIG: './fleetbot.yml',
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs it twice, --json and as text; `prime` sets up one-shot faults before each run. */
  async function doctor(
    prime: () => void = () => undefined,
  ): Promise<{ code: number; results: CheckResult[]; text: string; stderr: string }> {
    writeFileSync(join(dir, 'fleetbot.yml'), JSON.stringify({ fleets, ...(issueops ? { issueops } : {}) }));
    const command = createDoctorCommand({
      octokit: appOctokit,
      aws: (environment) =>
        createAwsClients({
          endpoint: environment.AWS_ENDPOINT_URL,
          region: 'us-east-1',
          credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
          maxAttempts: 1,
        }),
      manifest: () => readAppManifest(),
    });
    const asJson = captureContext(dir, env);
    prime();
    const code = await main(['doctor', '--json'], asJson, { doctor: command });
    const asText = captureContext(dir, env);
    prime();
    expect(await main(['doctor'], asText, { doctor: command })).toBe(code);
    return { code, results: JSON.parse(asJson.stdout()) as CheckResult[], text: asText.stdout(), stderr: asJson.stderr() };
  }

  const resultOf = (results: CheckResult[], check: string) => {
    const result = results.find((entry) => entry.check === check);
    if (!result) throw new Error(`no check "${check}" among ${results.map((entry) => entry.check).join(', ')}`);
    return result;
  };

  /** Only `check` failed, with every fix fragment in its fix; the text output lists it too. */
  async function expectOnlyFailure(check: string, detail: RegExp, fixes: string[], prime?: () => void) {
    const { code, results, text } = await doctor(prime);
    expect(code).toBe(EXIT.unhealthy);
    const failed = results.filter((entry) => entry.state !== 'ok');
    expect(failed.map((entry) => entry.check)).toEqual([check]);
    expect(failed[0].detail).toMatch(detail);
    for (const fix of fixes) expect(failed[0].fix).toContain(fix);
    expect(text).toContain(`1 of ${results.length} checks failed. To fix:\n- ${check}: ${failed[0].fix}`);
    return failed[0];
  }

  it('passes every check of a sound installation (exit 0), with progress on standard error', async () => {
    const { code, results, text, stderr } = await doctor();
    expect(results.filter((entry) => entry.state !== 'ok')).toEqual([]);
    expect(code).toBe(EXIT.ok);
    expect(results.map((entry) => entry.check)).toEqual([
      'configuration',
      'GitHub App credentials',
      'GitHub App permissions and events',
      'GitHub App webhook',
      'fleet gh-ecs: AWS resources',
      'fleet gh-ec2: AWS resources',
      'fleet gh-asg: AWS resources',
      'fleet gl: AWS resources',
      'fleet cc: AWS resources',
      'SSM parameters (put, get, delete)',
      'KMS key for runner credentials',
      'Terraform binary',
      'Terraform provider mirror',
      'GitLab token /fleetbot/gitlab/api-token',
      'CircleCI token /fleetbot/circleci/api-token',
    ]);
    expect(resultOf(results, 'GitHub App credentials').detail).toBe('App fleetbot (id 1), owned by acme');
    expect(resultOf(results, 'GitLab token /fleetbot/gitlab/api-token').detail).toContain('@fleetbot-reader');
    expect(text).toMatch(/^CHECK +RESULT +DETAIL$/m);
    expect(text).toContain(`All ${results.length} checks passed.`);
    expect(stderr).toContain(`[1/${results.length - 1}] GitHub App credentials…`);
    // The scratch parameter is gone.
    const left = await clientsFor(moto).ssm.send(new GetParametersByPathCommand({ Path: '/fleetbot/runners', Recursive: true }));
    expect(left.Parameters).toEqual([]);
    expect(github.openApiViolations).toEqual([]);
  });

  it('configuration: a fleets file that does not parse', async () => {
    fleets = [{ name: 'broken', labels: [], maxRunners: 0, compute: { type: 'ecs' } }];
    const { code, results } = await doctor();
    expect(code).toBe(EXIT.unhealthy);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({
      check: 'configuration',
      state: 'FAIL',
      detail: expect.stringContaining('is not a valid fleets file'),
    });
    expect(results[0].fix).toContain('correct the environment variables or the fleets file');
  });

  it('GitHub App credentials: GitHub refuses the JWT; the checks needing the App are skipped', async () => {
    const { code, results } = await doctor(() => github.failNext('GET', /^\/app$/, 401));
    expect(code).toBe(EXIT.unhealthy);
    expect(resultOf(results, 'GitHub App credentials')).toMatchObject({
      state: 'FAIL',
      detail: expect.stringContaining("GitHub refused the App's JWT (401)"),
    });
    expect(resultOf(results, 'GitHub App credentials').fix).toContain('generate a private key there for PRIVATE_KEY or PRIVATE_KEY_PATH');
    expect(resultOf(results, 'GitHub App webhook').state).toBe('skip');
    expect(results.filter((entry) => entry.state === 'FAIL')).toHaveLength(1);
  });

  it('GitHub App credentials: none set', async () => {
    delete env.APP_ID;
    const { results } = await doctor();
    const credentials = resultOf(results, 'GitHub App credentials');
    expect(credentials.state).toBe('FAIL');
    expect(credentials.fix).toContain('set APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH)');
  });

  it('GitHub App permissions and events: fewer than app.yml asks', async () => {
    github.appSettings.permissions.administration = 'read';
    delete github.appSettings.permissions.actions;
    github.appSettings.events = github.appSettings.events.filter((event) => event !== 'workflow_job');
    const where = `${github.url}/organizations/acme/settings/apps/fleetbot/permissions`;
    await expectOnlyFailure(
      'GitHub App permissions and events',
      /actions is not granted, needs read; administration is read, needs write; not subscribed to workflow_job/,
      [
        `grant "actions: read" at ${where}, then accept the new permissions on each installation`,
        `grant "administration: write" at ${where}`,
        `tick the "workflow_job" event at ${where}`,
      ],
    );
  });

  it('GitHub App webhook: a smee.io URL in production, form-encoded, no secret', async () => {
    env.NODE_ENV = 'production';
    github.appSettings.hookConfig = { url: 'https://smee.io/abc123', content_type: 'form', insecure_ssl: '0' };
    await expectOnlyFailure('GitHub App webhook', /smee\.io channel .* in production; content type is form; no webhook secret/, [
      'set the webhook URL at ' + `${github.url}/organizations/acme/settings/apps/fleetbot (Webhook) to the app's own address`,
      'choose content type application/json',
      'set a secret at',
    ]);
  });

  it('GitHub App webhook: WEBHOOK_SECRET missing here', async () => {
    delete env.WEBHOOK_SECRET;
    await expectOnlyFailure('GitHub App webhook', /WEBHOOK_SECRET is not set here/, [
      "set WEBHOOK_SECRET to the secret of the App's webhook",
    ]);
  });

  it('fleet AWS resources (ECS): a missing cluster, task definition, subnet and security group, each with its fix', async () => {
    fleets[0].compute = {
      type: 'ecs',
      cluster: 'nope',
      taskDefinition: 'missing-td',
      subnets: [infra.subnetId, 'subnet-0000dead'],
      securityGroups: ['sg-0000dead'],
    };
    await expectOnlyFailure(
      'fleet gh-ecs: AWS resources',
      /ECS cluster nope does not exist; task definition missing-td does not exist; subnet subnet-0000dead does not exist; security group sg-0000dead does not exist/,
      [
        'create the ECS cluster nope in this region, or name an existing one as compute.cluster (compute of fleet gh-ecs in ./fleetbot.yml)',
        'register the task definition missing-td',
        'name an existing subnet of this region instead of subnet-0000dead in compute.subnets',
        'name an existing security group instead of sg-0000dead in compute.securityGroups',
      ],
    );
  });

  it('fleet AWS resources (EC2): a missing launch template', async () => {
    (fleets[1].compute as Record<string, unknown>).launchTemplate = 'no-such-template';
    await expectOnlyFailure('fleet gh-ec2: AWS resources', /launch template no-such-template does not exist/, [
      'create the launch template no-such-template, or name an existing one as compute.launchTemplate',
    ]);
  });

  it('fleet AWS resources (Auto Scaling): a missing group', async () => {
    fleets[2].compute = { type: 'asg', autoScalingGroup: 'no-such-group' };
    await expectOnlyFailure('fleet gh-asg: AWS resources', /Auto Scaling group no-such-group does not exist/, [
      'create the Auto Scaling group no-such-group',
    ]);
  });

  it('SSM parameters: PutParameter denied', async () => {
    await expectOnlyFailure(
      'SSM parameters (put, get, delete)',
      /^put \/fleetbot\/runners\/fleetbot-doctor\/check-\w+: AccessDeniedException/,
      ['allow this role ssm:PutParameter, ssm:GetParameter, ssm:DeleteParameter'],
      () => proxy.failNext('PutParameter', 1, 400, 'AccessDeniedException'),
    );
  });

  it('KMS key: SSM cannot use the configured key', async () => {
    env.FLEETBOT_SSM_KMS_KEY_ID = 'alias/fleetbot-missing';
    // The SSM check's put goes through; the KMS check's put, with the key, is refused as SSM refuses a bad key.
    await expectOnlyFailure(
      'KMS key for runner credentials',
      /InvalidKeyId/,
      [
        'make FLEETBOT_SSM_KMS_KEY_ID (alias/fleetbot-missing) an existing, enabled key of this region',
        'kms:Encrypt, kms:Decrypt and kms:GenerateDataKey',
      ],
      () => proxy.failNext('PutParameter', 1, 400, 'InvalidKeyId', 1),
    );
  });

  it('Terraform binary: not installed', async () => {
    issueops = { repository: 'acme/runner-fleets', terraform: { binary: '/nonexistent/terraform', pluginMirror: null } };
    await expectOnlyFailure('Terraform binary', /\/nonexistent\/terraform version: .*ENOENT/, [
      'install Terraform 1.5 or later on PATH, or set issueops.terraform.binary in ./fleetbot.yml',
    ]);
  });

  it('Terraform provider mirror: empty', async () => {
    mkdirSync(join(dir, 'mirror'));
    issueops = { repository: 'acme/runner-fleets', terraform: { binary: terraformBinary, pluginMirror: './mirror' } };
    await expectOnlyFailure('Terraform provider mirror', /no hashicorp\/aws provider in .*mirror/, [
      'terraform providers mirror ./mirror',
      'or set issueops.terraform.pluginMirror in ./fleetbot.yml',
    ]);
  });

  it('GitLab token: refused by GitLab, and a parameter missing', async () => {
    await clientsFor(moto).ssm.send(
      new PutParameterCommand({ Name: '/fleetbot/gitlab/api-token-old', Value: 'glpat-revoked', Type: 'SecureString', Overwrite: true }),
    );
    (fleets[3].gitlab as Record<string, unknown>).apiTokenParameter = '/fleetbot/gitlab/api-token-old';
    (fleets[3].gitlab as Record<string, unknown>).webhookSecretParameter = '/fleetbot/gitlab/no-such-secret';
    await expectOnlyFailure(
      'GitLab token /fleetbot/gitlab/api-token-old',
      /\/fleetbot\/gitlab\/no-such-secret: .*; .* answered 401 to the token in \/fleetbot\/gitlab\/api-token-old/,
      [
        "put the secret of the projects' GitLab webhook in SSM as the SecureString /fleetbot/gitlab/no-such-secret",
        `create a token with the read_api scope at ${gitlab.url}/-/user_settings/personal_access_tokens and put it in /fleetbot/gitlab/api-token-old`,
      ],
    );
  });

  it('CircleCI token: refused by CircleCI', async () => {
    circleci.validTokens.delete(CIRCLECI_TOKEN);
    try {
      await expectOnlyFailure(
        'CircleCI token /fleetbot/circleci/api-token',
        /refused the token in \/fleetbot\/circleci\/api-token for acme\/linux/,
        [
          'create a personal API token (CircleCI → User settings → Personal API tokens) of a member of acme and put it in /fleetbot/circleci/api-token',
        ],
      );
    } finally {
      circleci.validTokens.add(CIRCLECI_TOKEN);
    }
  });
});
