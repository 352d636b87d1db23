import { FARGATE_MEMORY_GIB } from '../fleets/fargate-sizes.js';
import { awsRegion, fleetSpecSchema, type FleetSpec } from '../fleets/spec.js';
import { quote, type FieldProblem, type FieldValue, type IssueForm } from './form.js';
import type { IssueOpsSettings } from './settings.js';

/**
 * Turns the answers of a fleet request (or deletion) form into a FleetSpec, or into one problem per
 * field the author can fix. Every answer that reaches the spec passes a strict pattern first: the spec
 * ends up in Terraform, AWS resource names and runner labels.
 */

export interface RequestContext {
  defaults: IssueOpsSettings['defaults'];
  /** Why a name cannot be used (a live fleet, another open request), or undefined when it is free. */
  nameTaken(name: string): string | undefined;
  requestIssue: number;
  /** Where a requested fleet's warm runners register: the IssueOps repository's owner. */
  warmPoolOwner: string;
}

export type FleetRequestResult = { ok: true; spec: FleetSpec } | { ok: false; problems: FieldProblem[] };
export type DeleteRequestResult = { ok: true; name: string; reason: string } | { ok: false; problems: FieldProblem[] };

/** The labels of issue-templates/request-fleet.yml by field id, in form order: problems name fields as the author sees them. */
const requestLabels = {
  name: 'Fleet name',
  ci: 'CI system',
  labels: 'Runner labels',
  compute: 'Compute',
  vcpu: 'vCPU',
  memory: 'Memory (GiB)',
  'instance-types': 'Instance types',
  spot: 'Spot',
  'max-runners': 'Maximum runners',
  'warm-runners': 'Warm runners',
  image: 'Runner image',
  subnets: 'Subnets',
  'security-groups': 'Security groups',
  region: 'Region',
  justification: 'Justification',
} as const;

/** The labels of issue-templates/delete-fleet.yml. */
const deleteLabels = { name: 'Fleet name', reason: 'Reason' } as const;

/** The CI systems the request form offers: it requests GitHub Actions fleets. */
const formCiSystems = ['GitHub Actions'];
/**
 * Fleets of these need token parameters (and GitLab tags or a CircleCI resource class) the form does not
 * ask for: they are set up in the fleets file. The form offered them once, and an issue may still name one.
 */
const fleetsFileCiSystems = ['GitLab CI', 'CircleCI'];
const computeChoices = { 'ECS Fargate': 'ecs', EC2: 'ec2' } as const;
const spotOption = 'Use spot capacity, fall back to on-demand';

type Check<T> = { value: T } | { problem: string };
const accept = <T>(value: T): Check<T> => ({ value });
const reject = (problem: string): Check<never> => ({ problem });

/** Reads each answer once and keeps its problem; a check stops at its field's first problem, so there is one per field. */
class AnswerReader<Id extends string> {
  private readonly found = new Map<Id, string>();

  constructor(
    private readonly values: Record<string, FieldValue | undefined>,
    private readonly labels: Record<Id, string>,
  ) {}

  /** Reads a text answer, trimmed (undefined when empty), and checks it; undefined also when it has a problem. */
  text<T>(id: Id, check: (text: string | undefined) => Check<T>, lines: 'single line' | 'multiline' = 'single line'): T | undefined {
    const raw = this.values[id];
    if (Array.isArray(raw)) return this.report(id, reject('expected text, got a list of options'));
    const unsafe = raw === undefined ? undefined : unsafeCharacter(raw, lines === 'multiline');
    if (unsafe !== undefined) return this.report(id, reject(unsafe));
    const text = raw?.trim();
    return this.report(id, check(text === '' ? undefined : text));
  }

  /** The checked options of a checkboxes field. */
  checked(id: Id): string[] | undefined {
    const raw = this.values[id];
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) return this.report(id, reject('expected the list of checked options, got text'));
    return raw;
  }

  get problems(): FieldProblem[] {
    return (Object.keys(this.labels) as Id[]).flatMap((id) => {
      const message = this.found.get(id);
      return message === undefined ? [] : [{ field: this.labels[id], message }];
    });
  }

  private report<T>(id: Id, check: Check<T>): T | undefined {
    if ('value' in check) return check.value;
    this.found.set(id, check.problem);
    return undefined;
  }
}

// Control characters break Terraform and shell quoting; invisible and text-direction characters make an
// answer read differently from what it is (the approver would approve something else).
const invisibleCharacter = /[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;
// eslint-disable-next-line no-control-regex -- finding control characters is this expression's job.
const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/u;

function unsafeCharacter(text: string, multiline: boolean): string | undefined {
  const invisible = invisibleCharacter.exec(text);
  if (invisible) {
    const which = codePoint(invisible[0]);
    return `contains the invisible character ${which} (zero-width or text direction), which can hide what the text says; remove it`;
  }
  for (const character of text) {
    if (!controlCharacter.test(character)) continue;
    if (multiline && (character === '\n' || character === '\t')) continue;
    if (character === '\n' || character === '\r') return 'expected a single line; got a line break';
    return `contains the control character ${codePoint(character)}; expected plain text`;
  }
  return undefined;
}

function codePoint(character: string): string {
  return `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

const fleetNameRule = '3-40 characters of a-z, 0-9 and "-", not starting or ending with "-"';

function fleetName(text: string | undefined): Check<string> {
  if (text === undefined) return reject(`required: expected ${fleetNameRule}`);
  if (!/^[a-z0-9-]{3,40}$/.test(text) || text.startsWith('-') || text.endsWith('-')) {
    return reject(`expected ${fleetNameRule}; got ${quote(text)}`);
  }
  return accept(text);
}

function freeFleetName(text: string | undefined, nameTaken: RequestContext['nameTaken']): Check<string> {
  const name = fleetName(text);
  if ('problem' in name) return name;
  const reason = nameTaken(name.value);
  return reason === undefined ? name : reject(`${quote(name.value)} cannot be used: ${reason}`);
}

function ciSystem(text: string | undefined): Check<string> {
  const expected = formCiSystems.length === 1 ? formCiSystems[0] : `one of ${formCiSystems.join(', ')}`;
  if (text === undefined) return reject(`required: expected ${expected}`);
  if (fleetsFileCiSystems.includes(text)) {
    return reject(`${text} fleets are set up in the fleets file (see the README); this form requests GitHub Actions fleets`);
  }
  return formCiSystems.includes(text) ? accept(text) : reject(`expected ${expected}; got ${quote(text)}`);
}

/**
 * The request form as issues are read: the template, plus the CI systems it no longer offers. An issue
 * that still names one (filed with the older form, or edited by hand) then reaches the validator, which
 * says where such fleets go, instead of failing the form's own check of the options.
 */
export function requestFormAsRead(form: IssueForm): IssueForm {
  const fields = form.fields.map((field) =>
    field.id === 'ci' ? { ...field, options: [...new Set([...field.options, ...fleetsFileCiSystems])] } : field,
  );
  return { ...form, fields };
}

function commaSeparated(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

interface ListRule {
  pattern: RegExp;
  /** What one entry looks like, for messages. */
  entry: string;
  noun: string;
  max: number;
}

/** A comma-separated list whose every entry matches the rule, without duplicates (compared case-insensitively). */
function list(text: string, rule: ListRule): Check<string[]> {
  const entries = commaSeparated(text);
  const bad = entries.filter((entry) => !rule.pattern.test(entry));
  if (bad.length > 0) return reject(`expected comma-separated ${rule.entry}; got ${bad.map(quote).join(', ')}`);
  if (entries.length > rule.max) return reject(`expected at most ${rule.max} ${rule.noun}; got ${entries.length}`);
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.toLowerCase())) return reject(`${quote(entry)} appears more than once`);
    seen.add(entry.toLowerCase());
  }
  return accept(entries);
}

const runnerLabelRule: ListRule = {
  pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
  entry: 'labels of 1-64 letters, digits, ".", "_" and "-", each starting with a letter or digit',
  noun: 'labels',
  max: 20,
};

/** GitHub gives every self-hosted runner the `self-hosted` label and workflows ask for it; labels are case-insensitive. */
function runnerLabels(text: string | undefined): Check<string[]> {
  if (text === undefined) return reject(`required: expected comma-separated ${runnerLabelRule.entry}`);
  const labels = list(text, runnerLabelRule);
  if ('problem' in labels) return labels;
  if (labels.value.length === 0) return reject(`required: expected comma-separated ${runnerLabelRule.entry}`);
  const hasSelfHosted = labels.value.some((label) => label.toLowerCase() === 'self-hosted');
  return accept(hasSelfHosted ? labels.value : ['self-hosted', ...labels.value]);
}

type ComputeKind = (typeof computeChoices)[keyof typeof computeChoices];

function computeKind(text: string | undefined): Check<ComputeKind> {
  const choices = Object.keys(computeChoices).join(', ');
  if (text === undefined) return reject(`required: expected one of ${choices}`);
  if (!Object.hasOwn(computeChoices, text)) return reject(`expected one of ${choices}; got ${quote(text)}`);
  return accept(computeChoices[text as keyof typeof computeChoices]);
}

const decimal = /^\d+(\.\d+)?$/;
const sizedByInstanceTypes = 'must be empty for EC2: the instance types set the size';
const sizedByFargate = 'must be empty for ECS Fargate: vCPU and Memory (GiB) set the size';

function fargateVcpu(text: string | undefined): Check<number> {
  const choices = [...FARGATE_MEMORY_GIB.keys()].join(', ');
  if (text === undefined) return reject(`required for ECS Fargate: expected one of ${choices}`);
  const vcpu = decimal.test(text) ? Number(text) : Number.NaN;
  return FARGATE_MEMORY_GIB.has(vcpu) ? accept(vcpu) : reject(`expected one of ${choices}; got ${quote(text)}`);
}

/** Without a valid vCPU only the form of the answer can be checked; the vCPU problem comes first. */
function fargateMemory(text: string | undefined, vcpu: number | undefined): Check<number> {
  const allowed = vcpu === undefined ? undefined : FARGATE_MEMORY_GIB.get(vcpu);
  const expected = allowed ? `one of ${allowed.join(', ')} for ${vcpu} vCPU` : 'a size in GiB, e.g. 8';
  if (text === undefined) return reject(`required for ECS Fargate: expected ${expected}`);
  const gib = decimal.test(text) ? Number(text) : Number.NaN;
  const valid = allowed ? allowed.includes(gib) : Number.isFinite(gib);
  return valid ? accept(gib) : reject(`expected ${expected}; got ${quote(text)}`);
}

const instanceTypeRule: ListRule = {
  pattern: /^[a-z][a-z0-9-]*\.[a-z0-9]+$/,
  entry: 'EC2 instance types like m7i.large',
  noun: 'instance types',
  max: 10,
};

function instanceTypes(text: string | undefined): Check<string[]> {
  const required = `required for EC2: expected comma-separated ${instanceTypeRule.entry}, tried in order`;
  if (text === undefined) return reject(required);
  const types = list(text, instanceTypeRule);
  if ('problem' in types) return types;
  return types.value.length === 0 ? reject(required) : types;
}

type TextCheck<T> = (text: string | undefined) => Check<T>;

function mustBeEmpty(message: string): TextCheck<undefined> {
  return (text) => (text === undefined ? accept(undefined) : reject(message));
}

/** The sizing fields mean something only once Compute is known; until then Compute's own problem is the one to fix. */
function byCompute<E, F>(compute: ComputeKind | undefined, ecs: TextCheck<E>, ec2: TextCheck<F>): TextCheck<E | F | undefined> {
  if (compute === 'ecs') return ecs;
  if (compute === 'ec2') return ec2;
  return () => accept(undefined);
}

function maxRunners(text: string | undefined): Check<number> {
  const rule = 'a whole number from 1 to 1000';
  if (text === undefined) return reject(`required: expected ${rule}`);
  const count = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  return count >= 1 && count <= 1000 ? accept(count) : reject(`expected ${rule}; got ${quote(text)}`);
}

function warmRunners(text: string | undefined, max: number | undefined): Check<number> {
  if (text === undefined) return accept(0);
  if (!/^\d+$/.test(text)) return reject(`expected a whole number, 0 or empty; got ${quote(text)}`);
  const count = Number(text);
  if (max !== undefined && count > max) return reject(`expected at most Maximum runners (${max}); got ${count}`);
  return accept(count);
}

const imageHost = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const imagePathComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
/** [registry[:port]/]path[:tag][@sha256:digest], the repository path in lowercase. */
const containerImage = new RegExp(
  `^(?:${imageHost}(?:\\.${imageHost})*(?::[0-9]{1,5})?/)?` +
    `${imagePathComponent}(?:/${imagePathComponent})*` +
    '(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$',
);
const amiId = /^ami-[0-9a-f]{8,17}$/;
const amiNameFilter = /^[A-Za-z0-9][A-Za-z0-9 ()[\]./'@_*?-]{2,127}$/;

const containerImageRule =
  'a container image like 123456789012.dkr.ecr.us-east-1.amazonaws.com/runner:2.330.0 ' +
  '(lowercase repository, optional :tag and @sha256:digest)';
const amiRule =
  'an AMI id like ami-0123456789abcdef0 or an AMI name filter like fleetbot-runner-* ' + "(3-128 letters, digits, spaces and ()[]./'@_*?-)";

function runnerImage(text: string | undefined, compute: ComputeKind | undefined): Check<string> {
  const expected = compute === 'ecs' ? containerImageRule : compute === 'ec2' ? amiRule : 'a container image (ECS Fargate) or an AMI (EC2)';
  if (text === undefined) return reject(`required: expected ${expected}`);
  // Which form applies depends on Compute; its own problem says what is wrong there.
  if (compute === undefined) return accept(text);
  if (compute === 'ecs') {
    const valid = text.length <= 255 && containerImage.test(text);
    return valid ? accept(text) : reject(`expected ${containerImageRule}; got ${quote(text)}`);
  }
  if (text.startsWith('ami-') && !amiId.test(text)) {
    return reject(`expected an AMI id like ami-0123456789abcdef0 (8-17 hex digits); got ${quote(text)}`);
  }
  return amiId.test(text) || amiNameFilter.test(text) ? accept(text) : reject(`expected ${amiRule}; got ${quote(text)}`);
}

const subnetRule: ListRule = {
  pattern: /^subnet-[0-9a-f]{8,17}$/,
  entry: 'subnet ids like subnet-0123456789abcdef0',
  noun: 'subnets',
  max: 16,
};
const securityGroupRule: ListRule = {
  pattern: /^sg-[0-9a-f]{8,17}$/,
  entry: 'security group ids like sg-0123456789abcdef0',
  noun: 'security groups',
  max: 5,
};

/** An empty answer means the configured defaults. */
function idsOrDefaults(text: string | undefined, rule: ListRule, defaults: string[]): Check<string[]> {
  const typed = text === undefined ? accept([]) : list(text, rule);
  if ('problem' in typed) return typed;
  return accept(typed.value.length > 0 ? typed.value : defaults);
}

function subnets(text: string | undefined, defaults: string[]): Check<string[]> {
  const chosen = idsOrDefaults(text, subnetRule, defaults);
  if ('problem' in chosen || chosen.value.length > 0) return chosen;
  return reject(`required: no default subnets are configured; expected comma-separated ${subnetRule.entry}`);
}

/** Empty is fine: Terraform then creates a security group in the subnets' VPC. */
function securityGroups(text: string | undefined, defaults: string[]): Check<string[]> {
  return idsOrDefaults(text, securityGroupRule, defaults);
}

function region(text: string | undefined, home: string): Check<string> {
  if (text === undefined) return accept(home);
  if (!awsRegion.safeParse(text).success) return reject(`expected an AWS region like us-east-1; got ${quote(text)}`);
  return text === home
    ? accept(text)
    : reject(
        `this fleetbot builds fleets in ${home} only (its runners read their credentials there); ` + `leave Region empty or write ${home}`,
      );
}

function prose(text: string | undefined, minimum: number, what: string): Check<string> {
  if (text === undefined) return reject(`required: expected ${what}`);
  if (text.replace(/\s/g, '').length < minimum) {
    return reject(`expected at least ${minimum} characters (not counting spaces) of ${what}`);
  }
  const length = [...text].length;
  return length <= 4000 ? accept(text) : reject(`expected at most 4000 characters; got ${length}`);
}

export function validateFleetRequest(values: Record<string, FieldValue | undefined>, context: RequestContext): FleetRequestResult {
  const answers = new AnswerReader(values, requestLabels);
  const { defaults } = context;

  const name = answers.text('name', (text) => freeFleetName(text, context.nameTaken));
  answers.text('ci', ciSystem);
  const labels = answers.text('labels', runnerLabels);
  const compute = answers.text('compute', computeKind);
  const vcpu = answers.text('vcpu', byCompute(compute, fargateVcpu, mustBeEmpty(sizedByInstanceTypes)));
  const memoryGiB = answers.text(
    'memory',
    byCompute(compute, (text) => fargateMemory(text, vcpu), mustBeEmpty(sizedByInstanceTypes)),
  );
  const types = answers.text('instance-types', byCompute(compute, mustBeEmpty(sizedByFargate), instanceTypes));
  const spot = answers.checked('spot')?.includes(spotOption) ?? false;
  const max = answers.text('max-runners', maxRunners);
  const warm = answers.text('warm-runners', (text) => warmRunners(text, max));
  const image = answers.text('image', (text) => runnerImage(text, compute));
  const subnetIds = answers.text('subnets', (text) => subnets(text, defaults.subnets));
  const groups = answers.text('security-groups', (text) => securityGroups(text, defaults.securityGroups));
  const fleetRegion = answers.text('region', (text) => region(text, defaults.region));
  answers.text('justification', (text) => prose(text, 10, 'what the fleet is for and why'), 'multiline');

  const problems = answers.problems;
  if (problems.length > 0) return { ok: false, problems };

  const resourceName = `fleetbot-${name}`;
  // Warm runners register at the organisation (or user) that owns the IssueOps repository.
  const warmPool = warm ? { warmRunners: { count: warm, owner: context.warmPoolOwner } } : {};
  const spec =
    compute === 'ecs'
      ? {
          name,
          labels,
          maxRunners: max,
          ...warmPool,
          compute: {
            type: 'ecs',
            cluster: resourceName,
            taskDefinition: resourceName,
            containerName: 'runner',
            subnets: subnetIds,
            securityGroups: groups,
            assignPublicIp: defaults.assignPublicIp,
            // Without spot the launch type FARGATE is the same capacity, and needs no strategy.
            ...(spot ? { capacityProviders: ['FARGATE_SPOT', 'FARGATE'] } : {}),
          },
          provision: {
            region: fleetRegion,
            image,
            cpu: vcpu! * 1024,
            memoryMiB: memoryGiB! * 1024,
            securityGroups: groups,
            requestIssue: context.requestIssue,
          },
        }
      : {
          name,
          labels,
          maxRunners: max,
          ...warmPool,
          compute: { type: 'ec2', launchTemplate: resourceName, instanceTypes: types, subnets: subnetIds, spot },
          provision: { region: fleetRegion, image, securityGroups: groups, requestIssue: context.requestIssue },
        };
  return { ok: true, spec: checkedSpec(spec) };
}

/** Every answer was checked above, so a spec the schema rejects is a bug here, not the author's problem. */
function checkedSpec(spec: unknown): FleetSpec {
  const parsed = fleetSpecSchema.safeParse(spec);
  if (!parsed.success) {
    throw new Error(`validateFleetRequest built an invalid FleetSpec: ${parsed.error.message}`, { cause: parsed.error });
  }
  return parsed.data;
}

export function validateDeleteRequest(
  values: Record<string, FieldValue | undefined>,
  context: { fleetExists(name: string): boolean },
): DeleteRequestResult {
  const answers = new AnswerReader(values, deleteLabels);
  const name = answers.text('name', (text) => {
    const valid = fleetName(text);
    if ('problem' in valid) return valid;
    return context.fleetExists(valid.value) ? valid : reject(`no live fleet named ${quote(valid.value)}`);
  });
  const reason = answers.text('reason', (text) => prose(text, 1, 'why the fleet is no longer needed'), 'multiline');
  const problems = answers.problems;
  if (problems.length > 0 || name === undefined || reason === undefined) return { ok: false, problems };
  return { ok: true, name, reason };
}
