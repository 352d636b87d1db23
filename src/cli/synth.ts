import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError, readConfig } from '../config.js';
import { FleetsFileError, loadFleetsFile, type FleetsFile as FleetsFileOf } from '../fleets/file.js';
import { computeKind, provisionedKind } from '../fleets/compute-registry.js';
import type { FleetSpec } from '../fleets/spec.js';
import { issueOpsSettingsSchema, type IssueOpsSettings } from '../issueops/settings.js';
import { terraformSettingsSchema, type SynthSettings, type TerraformSettings } from '../terraform/settings.js';
import { CDKTF_PACKAGES, isMissingPackage } from '../../cdktf/load-synthesizer.js';
import { CommandError, EXIT, parseCommandArgs, UsageError, type CliContext, type Command } from './command.js';
import { resolveSynthInput, unsupportedFleetReason, type ProvisionedSpec } from './synth-input.js';

/** cdktf/synth.ts's synthesizeFleet: loaded only when a fleet is synthesized. */
export type Synthesize = (spec: FleetSpec, settings: SynthSettings) => string;

export interface SynthDependencies {
  /** Imports cdktf/synth.ts; tests pass a stand-in. */
  importSynth(): Promise<{ synthesizeFleet: Synthesize }>;
}

const TERRAFORM_FILE = 'cdk.tf.json';

type FleetsFile = FleetsFileOf<IssueOpsSettings>;

/** Imported on demand: cdktf is an optional dependency, and most of node_modules. */
async function loadSynthesizer(dependencies: SynthDependencies): Promise<Synthesize> {
  try {
    return (await dependencies.importSynth()).synthesizeFleet;
  } catch (error) {
    if (!isMissingPackage(error)) throw error;
    throw new CommandError(
      `CDKTF is not installed (${(error as Error).message}); synth needs the optional dependencies ` +
        `${CDKTF_PACKAGES.join(', ')}: \`npm ci\` without \`--omit=optional\``,
    );
  }
}

const usage = `Usage: fleetbot synth <fleet> [options]

Writes the Terraform (CDKTF JSON) for a fleet of the fleets file: the stack IssueOps builds for a
requested fleet, from the same code. An ECS Fargate fleet gets its cluster, task definition, execution
and task roles, log group and, when compute.securityGroups is empty, a security group; an EC2 fleet its
launch template, instance role and profile, and a security group. The resources get the names the
fleet's compute section gives them.

The inputs come from the fleet's provision block when it has one; otherwise from these options.
Terraform's backend and AWS provider settings come from the fleets file's issueops.terraform section
when there is one (as for IssueOps fleets); otherwise the state is local, in the output directory.
The fleets file is $FLEETBOT_CONFIG, else ./fleetbot.yml.

Options:
  --out <dir>               where to write ${TERRAFORM_FILE} (default: ./infra/<fleet>)
  --image <image>           ECS: the runner's container image; EC2: an AMI id or AMI name filter (required)
  --region <region>         the AWS region: the app's, where runners read their credentials
                            (default: $AWS_REGION, else us-east-1)
  --cpu <vCPU>              ECS Fargate: 0.25, 0.5, 1, 2, 4, 8 or 16 (default: 1)
  --memory <GiB>            ECS Fargate: a size Fargate allows for the vCPU (default: 2 GiB per vCPU)
  --security-group <sg-id>  EC2: a security group for the launch template, repeatable
                            (default: Terraform creates one in the subnets' VPC)
  -h, --help                show this help

Exit codes: 0 written; 1 cannot be built (fleets file, kind of fleet, CDKTF not installed);
2 bad arguments, an unknown fleet, or a missing or invalid input.

Example:
  fleetbot synth linux-small --image ghcr.io/acme/github-runner:2.330.0 --cpu 2 --memory 4`;

// --help is main.ts's, for every command.
const options = {
  out: { type: 'string' },
  image: { type: 'string' },
  region: { type: 'string' },
  cpu: { type: 'string' },
  memory: { type: 'string' },
  'security-group': { type: 'string', multiple: true },
} as const;

/** What IssueOps uses when the fleets file has no issueops section: local state, AWS as the SDK finds it. */
const DEFAULT_TERRAFORM: TerraformSettings = terraformSettingsSchema.parse({});

export function createSynthCommand(dependencies: SynthDependencies = { importSynth: () => import('../../cdktf/synth.js') }): Command {
  return {
    summary: 'Write the Terraform for a fleet of the fleets file, as IssueOps builds its fleets',
    usage,
    async run(args: string[], context: CliContext): Promise<number> {
      const { values, positionals } = parseCommandArgs(args, options);
      if (positionals.length !== 1) {
        throw new UsageError(
          positionals.length === 0 ? 'expected the name of a fleet' : `expected one fleet name; got ${positionals.join(' ')}`,
        );
      }
      const [name] = positionals;
      const { file, fleets } = await readFleetsFile(context);
      const fleet = fleets.fleets.find((candidate) => candidate.name === name);
      if (!fleet) throw new CommandError(unknownFleet(name, file, fleets), EXIT.usage);

      const unsupported = unsupportedFleetReason(fleet);
      if (unsupported) throw new CommandError(unsupported);
      const input = resolveSynthInput(
        fleet,
        { region: values.region, image: values.image, cpu: values.cpu, memory: values.memory, securityGroups: values['security-group'] },
        context.env,
      );
      if (!input.ok) {
        const problems = input.problems.map((problem) => `  - ${problem}`).join('\n');
        throw new CommandError(`cannot build fleet ${name}:\n${problems}\n(fleetbot synth --help lists the options)`, EXIT.usage);
      }

      const terraform = fleets.issueops?.terraform ?? DEFAULT_TERRAFORM;
      const synthesize = await loadSynthesizer(dependencies);
      const json = synthesizeOrExplain(synthesize, input.spec, terraform);
      const outDir = resolve(context.cwd, values.out ?? join('infra', name));
      await writeTerraform(outDir, json);

      context.out(report({ spec: input.spec, inputs: input.inputs, json, dir: shown(context.cwd, outDir), fleetsFile: file, terraform }));
      return EXIT.ok;
    },
  };
}

export const synthCommand = createSynthCommand();

/** The spec was checked above; what the stack still refuses (e.g. an unknown provider endpoint name) is the settings'. */
function synthesizeOrExplain(synthesize: Synthesize, spec: ProvisionedSpec, terraform: TerraformSettings): string {
  try {
    return synthesize(spec, { backend: terraform.backend, provider: terraform.provider });
  } catch (error) {
    throw new CommandError(`cannot synthesize fleet ${spec.name}: ${(error as Error).message}`);
  }
}

async function writeTerraform(dir: string, json: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, TERRAFORM_FILE), json);
  } catch (error) {
    throw new CommandError(`cannot write ${join(dir, TERRAFORM_FILE)}: ${(error as Error).message}`);
  }
}

/** The fleets file as the app finds it, required: there is nothing to synthesize without it. */
async function readFleetsFile(context: CliContext): Promise<{ file: string; fleets: FleetsFile }> {
  let file: string;
  try {
    file = readConfig(context.env).fleetsFile;
  } catch (error) {
    if (error instanceof ConfigError) throw new CommandError(error.message);
    throw error;
  }
  if (!existsSync(resolve(context.cwd, file))) {
    throw new CommandError(`no fleets file at ${file}: write one (see fleetbot.example.yml), or point FLEETBOT_CONFIG at yours`);
  }
  try {
    return { file, fleets: await loadFleetsFile(resolve(context.cwd, file), true, issueOpsSettingsSchema) };
  } catch (error) {
    if (error instanceof FleetsFileError) throw new CommandError(error.message.replace(resolve(context.cwd, file), file));
    throw error;
  }
}

function unknownFleet(name: string, file: string, fleets: FleetsFile): string {
  const names = fleets.fleets.map((fleet) => fleet.name);
  return names.length === 0
    ? `no fleet named ${name}: ${file} has no fleets`
    : `no fleet named ${name} in ${file}; its fleets: ${names.join(', ')}`;
}

/** A path as the user would type it: relative to the working directory when inside it. */
function shown(cwd: string, path: string): string {
  const fromCwd = relative(cwd, path);
  if (fromCwd === '') return '.';
  return fromCwd.startsWith('..') || isAbsolute(fromCwd) ? path : fromCwd;
}

/** A word the shell reads back unchanged: quoted when it holds anything but safe characters. */
function shellWord(text: string): string {
  return /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

interface TerraformJson {
  resource?: Record<string, Record<string, { name?: unknown; family?: unknown; '//'?: { metadata?: { path?: string } } }>>;
}

/** Each resource as `type  name`: its literal AWS name, else its construct path within the stack. */
function resourceLines(json: string): string[] {
  const resources = Object.entries((JSON.parse(json) as TerraformJson).resource ?? {}).flatMap(([type, byId]) =>
    Object.values(byId).map((resource) => {
      const literal = [resource.name, resource.family].find((value) => typeof value === 'string' && !value.includes('${'));
      const path = resource['//']?.metadata?.path?.split('/').slice(1).join('/');
      return { type, name: String(literal ?? path ?? '') };
    }),
  );
  const width = Math.max(...resources.map((resource) => resource.type.length));
  return resources.map((resource) => `  ${resource.type.padEnd(width)}  ${resource.name}`);
}

interface ReportFacts {
  spec: ProvisionedSpec;
  inputs: string[];
  json: string;
  dir: string;
  fleetsFile: string;
  terraform: TerraformSettings;
}

function report({ spec, inputs, json, dir, fleetsFile, terraform }: ReportFacts): string {
  const compute = computeKind(spec.compute).label;
  const chdir = `${shellWord(terraform.binary)} -chdir=${shellWord(dir)}`;
  const backend = terraform.backend;
  const state =
    backend.type === 's3'
      ? `State: s3://${backend.bucket}/${backend.keyPrefix}/${spec.name}.tfstate (issueops.terraform.backend)`
      : `State: ${join(dir, 'terraform.tfstate')} (local: keep it, it is Terraform's record of the fleet)`;
  const lines = [
    `Wrote ${join(dir, TERRAFORM_FILE)}: fleet ${spec.name} (${spec.ci}, ${compute}) from ${fleetsFile}`,
    ...inputs.map((input) => `  ${input}`),
    'Resources:',
    ...resourceLines(json),
    state,
    'Next:',
    `  ${chdir} init`,
    `  ${chdir} plan -out=fleet.tfplan`,
    `  ${chdir} apply fleet.tfplan`,
  ];
  if (terraform.pluginMirror !== null) {
    lines.push(
      `Offline: issueops.terraform.pluginMirror is ${terraform.pluginMirror}; point TF_CLI_CONFIG_FILE at a file with`,
      `  provider_installation { filesystem_mirror { path = "${terraform.pluginMirror}" } }`,
    );
  }
  lines.push(...(provisionedKind(spec.compute)?.synth.nextSteps(spec, spec.provision, { fleetsFile, chdir }) ?? []));
  return lines.join('\n');
}
