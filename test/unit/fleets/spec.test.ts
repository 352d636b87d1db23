import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetsFileError, loadFleetsFile, parseFleetsFile } from '../../../src/fleets/spec.js';

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
    parseFleetsFile(text, 'fleetbot.yml');
  } catch (error) {
    expect(error).toBeInstanceOf(FleetsFileError);
    return (error as FleetsFileError).problems;
  }
  throw new Error('expected the fleets file to be rejected');
}

describe('the fleets file', () => {
  it('reads a valid file and fills in the defaults', () => {
    const [fleet] = parseFleetsFile(valid, 'fleetbot.yml');
    expect(fleet).toEqual({
      name: 'linux-small',
      labels: ['self-hosted', 'linux', 'small'],
      maxRunners: 20,
      runnerGroupId: 1,
      credentials: 'jit',
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
    await expect(loadFleetsFile(join(dir, 'absent.yml'), false)).resolves.toEqual([]);
    await expect(loadFleetsFile(join(dir, 'absent.yml'), true)).rejects.toThrow(/absent\.yml is not a valid fleets file:\n {2}- cannot read/);
    writeFileSync(join(dir, 'fleets.yml'), valid);
    await expect(loadFleetsFile(join(dir, 'fleets.yml'), true)).resolves.toHaveLength(1);
  });
});
