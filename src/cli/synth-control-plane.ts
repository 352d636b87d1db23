import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import { APP_SECRET_NAMES } from '../config.js';
import { controlPlaneInputSchema, type ControlPlaneInput } from '../../cdktf/control-plane-input.js';
import { CDKTF_PACKAGES, isMissingPackage } from '../../cdktf/load-synthesizer.js';
import { formatZodIssues } from '../zod-issues.js';
import { CommandError, EXIT, parseCommandArgs, UsageError, type CliContext, type Command } from './command.js';

/** cdktf/control-plane.ts's synthesizeControlPlane: loaded only once the input is known to be good. */
export type SynthesizeControlPlane = (input: ControlPlaneInput) => string;

export interface SynthControlPlaneDependencies {
  importSynth(): Promise<{ synthesizeControlPlane: SynthesizeControlPlane }>;
}

const TERRAFORM_FILE = 'cdk.tf.json';
const DEFAULT_OUT = join('infra', 'control-plane');

const usage = `Usage: fleetbot synth-control-plane <input.yml> [--out <dir>]

Writes the Terraform (CDKTF JSON) of the scale-out control plane: the DynamoDB store table, the job
queue and its dead-letter queue, the webhook function behind a function URL, the worker function (unless
workerLambda: false), the tick function on an EventBridge schedule, the ECS Fargate service running the
fleetbot image, a least-privilege role per function and for the service, log groups, and alarms on
dead letters, queue age and function errors. The input file (YAML or JSON) is described in the README,
"Deploy on AWS"; control-plane.example.yml is a start. lambdaZip is relative to the input file.

Options:
  --out <dir>   where to write ${TERRAFORM_FILE} (default: ./${DEFAULT_OUT})
  -h, --help    show this help

Exit codes: 0 written; 1 cannot be built (unreadable file, CDKTF not installed); 2 bad arguments or input.`;

const options = { out: { type: 'string' } } as const;

async function readInput(path: string, shown: string): Promise<ControlPlaneInput> {
  let document: unknown;
  try {
    document = parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new CommandError(`cannot read ${shown}: ${(error as Error).message}`);
  }
  const input = controlPlaneInputSchema.safeParse(document ?? {});
  if (!input.success) {
    const problems = formatZodIssues(input.error).map((problem) => `  - ${problem}`);
    throw new CommandError([`${shown} is not a valid control-plane input:`, ...problems].join('\n'), EXIT.usage);
  }
  return input.data;
}

async function loadSynthesizer(dependencies: SynthControlPlaneDependencies): Promise<SynthesizeControlPlane> {
  try {
    return (await dependencies.importSynth()).synthesizeControlPlane;
  } catch (error) {
    if (!isMissingPackage(error)) throw error;
    throw new CommandError(`CDKTF is not installed (${(error as Error).message}); install ${CDKTF_PACKAGES.join(', ')}: \`npm ci\``);
  }
}

export function createSynthControlPlaneCommand(
  dependencies: SynthControlPlaneDependencies = { importSynth: () => import('../../cdktf/control-plane.js') },
): Command {
  return {
    summary: 'Write the Terraform of the scale-out control plane (DynamoDB, SQS, Lambda, ECS)',
    usage,
    async run(args: string[], context: CliContext): Promise<number> {
      const { values, positionals } = parseCommandArgs(args, options);
      if (positionals.length !== 1) throw new UsageError('expected the path of the input file');
      const inputPath = resolve(context.cwd, positionals[0]);
      const input = await readInput(inputPath, positionals[0]);
      const outDir = resolve(context.cwd, values.out ?? DEFAULT_OUT);
      // Terraform reads the zip from its working directory: the path is rewritten to be relative to it.
      const zipPath = resolve(dirname(inputPath), input.lambdaZip);
      const synthesize = await loadSynthesizer(dependencies);
      const json = synthesize({ ...input, lambdaZip: relative(outDir, zipPath) });
      try {
        await mkdir(outDir, { recursive: true });
        await writeFile(join(outDir, TERRAFORM_FILE), json);
      } catch (error) {
        throw new CommandError(`cannot write ${join(outDir, TERRAFORM_FILE)}: ${(error as Error).message}`);
      }
      context.out(report(input, shown(context.cwd, outDir), shown(context.cwd, zipPath), existsSync(zipPath)));
      return EXIT.ok;
    },
  };
}

export const synthControlPlaneCommand = createSynthControlPlaneCommand();

function shown(cwd: string, path: string): string {
  const fromCwd = relative(cwd, path);
  return fromCwd === '' ? '.' : fromCwd.startsWith('..') || isAbsolute(fromCwd) ? path : fromCwd;
}

function report(input: ControlPlaneInput, dir: string, zipPath: string, zipExists: boolean): string {
  const secrets = APP_SECRET_NAMES.map(
    (name) => `  aws ssm put-parameter --type SecureString --name ${input.secretsParameterPrefix}/${name} --value "$${name}"`,
  );
  return [
    `Wrote ${join(dir, TERRAFORM_FILE)}: control plane ${input.name} in ${input.region}`,
    `  service: ${input.service.replicas} × ${input.service.image}`,
    `  worker: ${input.workerLambda ? 'a Lambda function' : 'the service replicas'}; tick: ${input.tickSchedule}`,
    `  Lambda zip: ${zipPath}${zipExists ? '' : ' (not there yet: npm run package:lambda)'}`,
    'The App credentials, once, as SecureStrings (their values never pass through Terraform):',
    ...secrets,
    'Next:',
    `  terraform -chdir=${dir} init`,
    `  terraform -chdir=${dir} plan -out=control-plane.tfplan`,
    `  terraform -chdir=${dir} apply control-plane.tfplan`,
    `  terraform -chdir=${dir} output webhook_url   # the App's webhook URL`,
  ].join('\n');
}
