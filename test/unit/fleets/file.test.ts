import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetsFileError, loadFleetsFile, parseFleetsFile } from '../../../src/fleets/file.js';
import { issueOpsSettingsSchema } from '../../../src/issueops/settings.js';

const valid = `
fleets:
  - name: linux-small
    labels: [self-hosted, linux, small]
    maxRunners: 20
    compute:
      type: ecs
      cluster: runners
      taskDefinition: gh-runner
      subnets: [subnet-123]
      securityGroups: [sg-123]
      capacityProviders: [FARGATE_SPOT, FARGATE]
`;

function problemsOf(text: string): string[] {
  try {
    parseFleetsFile(text, 'fleetbot.yml', issueOpsSettingsSchema);
  } catch (error) {
    expect(error).toBeInstanceOf(FleetsFileError);
    return (error as FleetsFileError).problems;
  }
  throw new Error('expected the fleets file to be rejected');
}

describe('the fleets file', () => {
  it('reads a valid file and fills in the defaults', () => {
    const [fleet] = parseFleetsFile(valid, 'fleetbot.yml').fleets;
    expect(fleet).toEqual({
      name: 'linux-small',
      ci: 'github',
      labels: ['self-hosted', 'linux', 'small'],
      maxRunners: 20,
      runnerGroupId: 1,
      credentials: 'jit',
      idleTimeoutSeconds: 300,
      compute: {
        type: 'ecs',
        cluster: 'runners',
        taskDefinition: 'gh-runner',
        subnets: ['subnet-123'],
        securityGroups: ['sg-123'],
        assignPublicIp: false,
        capacityProviders: ['FARGATE_SPOT', 'FARGATE'],
      },
    });
  });

  it('names the file, the fleet and the key of each problem', () => {
    const bad = valid.replace('maxRunners: 20', 'maxRunners: lots').replace('subnet-123', 'net-1');
    const problems = problemsOf(bad);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^fleets\[0\] \(linux-small\)\.maxRunners: /);
    expect(problems[1]).toMatch(/^fleets\[0\] \(linux-small\)\.compute\.subnets\[0\]: expected a subnet id/);
    expect(() => parseFleetsFile(bad, '/etc/fleetbot.yml')).toThrow(/\/etc\/fleetbot\.yml is not a valid fleets file/);
  });

  it('rejects unknown keys, so a typo is not silently ignored', () => {
    expect(problemsOf(valid.replace('maxRunners: 20', 'maxRunner: 20'))).toEqual(
      expect.arrayContaining([expect.stringMatching(/fleets\[0\] \(linux-small\).*maxRunner/)]),
    );
  });

  it('rejects duplicate fleet names', () => {
    const twice = `fleets:\n${valid.split('fleets:\n')[1]}${valid.split('fleets:\n')[1]}`;
    expect(problemsOf(twice)).toEqual([expect.stringMatching(/fleets\[1\] \(linux-small\)\.name: duplicate fleet name/)]);
  });

  it('rejects bad names, labels, limits and compute types', () => {
    const problems = problemsOf(
      valid
        .replace('name: linux-small', 'name: Linux_Small')
        .replace('[self-hosted, linux, small]', '["self hosted"]')
        .replace('maxRunners: 20', 'maxRunners: 0')
        .replace('type: ecs', 'type: lambda'),
    );
    expect(problems.join('\n')).toMatch(/\.name: expected 1-40 characters/);
    expect(problems.join('\n')).toMatch(/\.labels\[0\]: expected 1-64 characters/);
    expect(problems.join('\n')).toMatch(/\.maxRunners: /);
    expect(problems.join('\n')).toMatch(/\.compute\.type: /);
  });

  it('reports YAML syntax errors with the file name', () => {
    expect(() => parseFleetsFile('fleets: [', 'fleetbot.yml')).toThrow(/fleetbot\.yml is not a valid fleets file:\n {2}- YAML syntax/);
  });

  it('treats a missing default file as no fleets, and a missing chosen file as an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleets-'));
    await expect(loadFleetsFile(join(dir, 'absent.yml'), false)).resolves.toEqual({ fleets: [] });
    await expect(loadFleetsFile(join(dir, 'absent.yml'), true)).rejects.toThrow(
      /absent\.yml is not a valid fleets file:\n {2}- cannot read/,
    );
    writeFileSync(join(dir, 'fleets.yml'), valid);
    expect((await loadFleetsFile(join(dir, 'fleets.yml'), true)).fleets).toHaveLength(1);
  });

  it('reads EC2 fleets', () => {
    const ec2 = `
fleets:
  - name: linux-ec2
    labels: [self-hosted, linux]
    maxRunners: 5
    compute:
      type: ec2
      launchTemplate: fleetbot-linux-ec2
      instanceTypes: [m7i.large, m6i.large]
      subnets: [subnet-123]
      spot: true
`;
    expect(parseFleetsFile(ec2, 'fleetbot.yml').fleets[0].compute).toEqual({
      type: 'ec2',
      launchTemplate: 'fleetbot-linux-ec2',
      instanceTypes: ['m7i.large', 'm6i.large'],
      subnets: ['subnet-123'],
      spot: true,
    });
    expect(problemsOf(ec2.replace('m6i.large', 'large'))).toEqual([
      expect.stringMatching(/compute\.instanceTypes\[1\]: expected an EC2 instance type/),
    ]);
  });

  it('reads ECS on EC2: an Auto Scaling group capacity provider, or launch type EC2', () => {
    const asgProvider = valid.replace('[FARGATE_SPOT, FARGATE]', '[runners-asg, FARGATE]');
    expect(parseFleetsFile(asgProvider, 'fleetbot.yml').fleets[0].compute).toMatchObject({ capacityProviders: ['runners-asg', 'FARGATE'] });
    const launchType = valid.replace('capacityProviders: [FARGATE_SPOT, FARGATE]', 'launchType: EC2');
    const compute = parseFleetsFile(launchType, 'fleetbot.yml').fleets[0].compute;
    expect(compute).toMatchObject({ launchType: 'EC2' });
    expect(compute).not.toHaveProperty('capacityProviders');
  });

  it('refuses capacity providers ECS would not have, and launch types it does not offer', () => {
    const providers = (list: string) => problemsOf(valid.replace('[FARGATE_SPOT, FARGATE]', list)).join('\n');
    expect(providers('[FARGATE_SPT]')).toMatch(
      /compute\.capacityProviders\[0\]: expected FARGATE, FARGATE_SPOT or the name of an Auto Scaling group capacity provider/,
    );
    // ECS reserves these prefixes for its own providers.
    expect(providers('[FARGATE, ecs-runners]')).toMatch(/compute\.capacityProviders\[1\]: expected FARGATE, FARGATE_SPOT/);
    expect(providers('["runners ${var.x}"]')).toMatch(/compute\.capacityProviders\[0\]: expected/);
    expect(providers('[runners-asg, FARGATE, runners-asg]')).toMatch(/compute\.capacityProviders\[2\]: runners-asg is listed twice/);
    const launchType = (value: string) => valid.replace('capacityProviders: [FARGATE_SPOT, FARGATE]', `launchType: ${value}`);
    expect(problemsOf(launchType('EXTERNAL')).join('\n')).toMatch(/compute\.launchType: /);
  });

  it('refuses a launch type next to capacity providers, which would go unused', () => {
    expect(problemsOf(valid.replace('    capacityProviders:', '    launchType: EC2\n      capacityProviders:'))).toEqual([
      expect.stringMatching(/compute\.launchType: launchType applies only without capacityProviders/),
    ]);
  });

  it('refuses a public IP for tasks on EC2 container instances, and allows it on Fargate', () => {
    const publicIp = valid.replace('securityGroups: [sg-123]', 'securityGroups: [sg-123]\n      assignPublicIp: true');
    expect(parseFleetsFile(publicIp, 'fleetbot.yml').fleets[0].compute).toMatchObject({ assignPublicIp: true });
    for (const onEc2 of [
      publicIp.replace('[FARGATE_SPOT, FARGATE]', '[runners-asg, FARGATE]'),
      publicIp.replace('capacityProviders: [FARGATE_SPOT, FARGATE]', 'launchType: EC2'),
    ]) {
      expect(problemsOf(onEc2)).toEqual([
        expect.stringMatching(/compute\.assignPublicIp: tasks on EC2 container instances get no public IP/),
      ]);
    }
  });

  it('reads the issueops section and fills in its defaults', () => {
    const { issueops } = parseFleetsFile(`${valid}\nissueops:\n  repository: acme/runner-fleets\n`, 'fleetbot.yml', issueOpsSettingsSchema);
    expect(issueops).toEqual({
      repository: 'acme/runner-fleets',
      approvers: { roles: ['admin', 'maintain'], teams: [] },
      terraform: {
        binary: 'terraform',
        workdir: './data/terraform',
        pluginMirror: null,
        backend: { type: 'local' },
        provider: { skipCredentialsValidation: false, skipRequestingAccountId: false, skipMetadataApiCheck: false, s3UsePathStyle: false },
        timeoutSeconds: 1800,
      },
      defaults: { region: 'us-east-1', subnets: [], securityGroups: [], assignPublicIp: false },
      drainTimeoutSeconds: 3600,
    });
  });

  it('names each bad issueops setting', () => {
    const problems = problemsOf(
      `${valid}\nissueops:\n  repository: not-a-repo\n  terraform:\n    backend: { type: s3 }\n  defaults: { region: mars-1 }\n`,
    );
    expect(problems.join('\n')).toMatch(/issueops\.repository: expected owner\/name/);
    expect(problems.join('\n')).toMatch(/issueops\.terraform\.backend\.bucket/);
    expect(problems.join('\n')).toMatch(/issueops\.defaults\.region: expected an AWS region/);
  });

  it('accepts ECS names and ARNs, and refuses anything Terraform would read as an expression', () => {
    const arn = valid
      .replace('cluster: runners', 'cluster: arn:aws:ecs:us-east-1:123456789012:cluster/runners')
      .replace('taskDefinition: gh-runner', 'taskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/gh-runner:7"');
    expect(parseFleetsFile(arn, 'fleetbot.yml').fleets).toHaveLength(1);
    const problems = problemsOf(
      valid
        .replace('cluster: runners', 'cluster: "${file(\\"/etc/passwd\\")}"')
        .replace('taskDefinition: gh-runner', 'taskDefinition: "gh runner"'),
    );
    expect(problems.join('\n')).toMatch(/compute\.cluster: expected a cluster name or ARN/);
    expect(problems.join('\n')).toMatch(/compute\.taskDefinition: expected a task definition family/);
    const image = `${valid}    provision: { region: us-east-1, image: "ghcr.io/acme/runner:\${var.x}" }\n`;
    expect(problemsOf(image).join('\n')).toMatch(/provision\.image: expected a container image/);
  });

  it("asks each CI system's fleets for their section, and refuses it on the others", () => {
    const gitlab = valid.replace('    maxRunners: 20\n', '    maxRunners: 20\n    ci: gitlab\n');
    expect(problemsOf(gitlab).join('\n')).toMatch(/fleets\[0\] \(linux-small\)\.gitlab: a fleet with ci: gitlab needs a gitlab section/);
    const section =
      '    gitlab: { tokenParameter: /fleetbot/gitlab/linux-small/runner-token, apiTokenParameter: /fleetbot/gitlab/api-token, webhookSecretParameter: /fleetbot/gitlab/webhook-secret }\n';
    const [fleet] = parseFleetsFile(`${gitlab}${section}`, 'fleetbot.yml').fleets;
    expect(fleet.ci).toBe('gitlab');
    expect(fleet.gitlab?.url).toBe('https://gitlab.com');
    expect(problemsOf(`${valid}${section}`).join('\n')).toMatch(/\.gitlab: only fleets with ci: gitlab take a gitlab section/);
    const circleci = valid.replace('    maxRunners: 20\n', '    maxRunners: 20\n    ci: circleci\n');
    const badClass = `${circleci}    circleci: { resourceClass: no-slash, runnerTokenParameter: /a, apiTokenParameter: b }\n`;
    expect(problemsOf(badClass).join('\n')).toMatch(/circleci\.resourceClass: expected a resource class like namespace\/name/);
    expect(problemsOf(badClass).join('\n')).toMatch(/circleci\.apiTokenParameter: expected an SSM parameter name/);
  });

  it("reads a GitLab fleet's swept projects, ids or full paths, none by default, and names each bad one", () => {
    const gitlab = (projects: string) =>
      valid.replace('    maxRunners: 20\n', '    maxRunners: 20\n    ci: gitlab\n') +
      `    gitlab: { tokenParameter: /t, apiTokenParameter: /a, webhookSecretParameter: /w${projects} }\n`;
    expect(parseFleetsFile(gitlab(''), 'fleetbot.yml').fleets[0]!.gitlab?.projects).toEqual([]);
    const [fleet] = parseFleetsFile(gitlab(', projects: [380, acme/app, acme/sub.group/my-app_2]'), 'fleetbot.yml').fleets;
    expect(fleet!.gitlab?.projects).toEqual([380, 'acme/app', 'acme/sub.group/my-app_2']);
    const problems = problemsOf(gitlab(', projects: [0, "380", app, acme/-x, 1.5]')).join('\n');
    for (const index of [0, 1, 2, 3, 4]) {
      expect(problems).toContain(`gitlab.projects[${index}]: expected a project id like 380 or a full path like group/project`);
    }
  });

  it('checks a warm pool: count within maxRunners, a five-field cron schedule, a real time zone, GitHub fleets only', () => {
    const pool = (value: string, fleet = valid) => `${fleet}    warmRunners: ${value}\n`;
    const [fleet] = parseFleetsFile(
      pool('{ count: 2, owner: acme, schedule: "* 8-17 * * 1-5", timeZone: Europe/Berlin }'),
      'fleetbot.yml',
    ).fleets;
    expect(fleet.warmRunners).toEqual({ count: 2, owner: 'acme', schedule: '* 8-17 * * 1-5', timeZone: 'Europe/Berlin' });
    expect(parseFleetsFile(pool('{ count: 1, owner: acme/app }'), 'fleetbot.yml').fleets[0].warmRunners?.timeZone).toBe('UTC');

    const problems = problemsOf(pool('{ count: 21, owner: "acme/", schedule: "0 8 * * * *", timeZone: Mars/Olympus }')).join('\n');
    expect(problems).toMatch(/warmRunners\.owner: expected an organisation, or owner\/repo/);
    expect(problems).toMatch(/warmRunners\.schedule: expected a five-field cron expression/);
    expect(problems).toMatch(/warmRunners\.timeZone: expected an IANA time zone/);
    expect(problemsOf(pool('{ count: 21, owner: acme }')).join('\n')).toMatch(/warmRunners\.count: expected at most maxRunners \(20\)/);
    const gitlab = valid.replace(
      '    maxRunners: 20\n',
      '    maxRunners: 20\n    ci: gitlab\n    gitlab: { tokenParameter: /t, apiTokenParameter: /a, webhookSecretParameter: /w }\n',
    );
    expect(problemsOf(pool('{ count: 1, owner: acme }', gitlab)).join('\n')).toMatch(/warmRunners: warm pools are for GitHub fleets/);
  });
});
