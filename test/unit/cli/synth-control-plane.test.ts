import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { controlPlaneInputSchema } from '../../../cdktf/control-plane-input.js';
import { EXIT } from '../../../src/cli/command.js';
import { main } from '../../../src/cli/main.js';
import { createSynthControlPlaneCommand } from '../../../src/cli/synth-control-plane.js';
import { captureContext } from './cli-context.js';

const INPUT = {
  region: 'eu-west-1',
  service: { image: 'ghcr.io/acme/fleetbot:0.1.0-issueops', subnets: ['subnet-0123abcd'], securityGroups: ['sg-0123abcd'] },
  lambdaZip: 'build/fleetbot-lambda.zip',
};

describe('fleetbot synth-control-plane', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleetbot-synth-control-plane-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the stack, with the Lambda zip relative to where terraform runs, and says what to do next', async () => {
    writeFileSync(join(dir, 'control-plane.yml'), stringify(INPUT));
    const context = captureContext(dir);
    expect(await main(['synth-control-plane', 'control-plane.yml'], context)).toBe(EXIT.ok);
    const json = JSON.parse(readFileSync(join(dir, 'infra', 'control-plane', 'cdk.tf.json'), 'utf8')) as {
      resource: { aws_lambda_function: Record<string, { filename: string }> };
    };
    for (const fn of Object.values(json.resource.aws_lambda_function)) expect(fn.filename).toBe('../../build/fleetbot-lambda.zip');
    expect(context.stdout()).toContain('Wrote infra/control-plane/cdk.tf.json: control plane fleetbot in eu-west-1');
    expect(context.stdout()).toContain('Lambda zip: build/fleetbot-lambda.zip (not there yet: npm run package:lambda)');
    expect(context.stdout()).toContain('aws ssm put-parameter --type SecureString --name /fleetbot/app/PRIVATE_KEY --value "$PRIVATE_KEY"');
    expect(context.stdout()).toContain('terraform -chdir=infra/control-plane apply control-plane.tfplan');
  });

  it('lists every problem of the input file and writes nothing', async () => {
    writeFileSync(
      join(dir, 'bad.yml'),
      stringify({ ...INPUT, region: 'Europe', service: { ...INPUT.service, replicas: -1 }, colour: 'blue' }),
    );
    const context = captureContext(dir);
    expect(await main(['synth-control-plane', 'bad.yml'], context)).toBe(EXIT.usage);
    expect(context.stderr()).toBe(
      [
        'fleetbot synth-control-plane: bad.yml is not a valid control-plane input:',
        '  - region: expected an AWS region like us-east-1',
        '  - service.replicas: Too small: expected number to be >=0',
        '  - (top level): Unrecognized key: "colour"',
      ].join('\n'),
    );
    expect(existsSync(join(dir, 'infra'))).toBe(false);
  });

  it('says which file it cannot read', async () => {
    const context = captureContext(dir);
    expect(await main(['synth-control-plane', 'missing.yml'], context)).toBe(EXIT.failed);
    expect(context.stderr()).toMatch(/^fleetbot synth-control-plane: cannot read missing\.yml: ENOENT/);
  });

  it('asks for the input file', async () => {
    const context = captureContext(dir);
    expect(await main(['synth-control-plane'], context)).toBe(EXIT.usage);
    expect(context.stderr()).toContain('expected the path of the input file');
  });

  it('says what to install when CDKTF is missing', async () => {
    writeFileSync(join(dir, 'control-plane.yml'), stringify(INPUT));
    const missing = Object.assign(new Error("Cannot find package 'cdktf'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const command = createSynthControlPlaneCommand({ importSynth: () => Promise.reject(missing) });
    const context = captureContext(dir);
    expect(await main(['synth-control-plane', 'control-plane.yml'], context, { 'synth-control-plane': command })).toBe(EXIT.failed);
    expect(context.stderr()).toContain('CDKTF is not installed');
  });

  it('accepts control-plane.example.yml', () => {
    const example = parse(readFileSync('control-plane.example.yml', 'utf8')) as unknown;
    expect(controlPlaneInputSchema.safeParse(example).error).toBeUndefined();
  });
});
