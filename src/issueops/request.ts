import { accept, list, reject, type Check, type ListRule } from '../fleets/checks.js';
import { PROVISIONED_COMPUTE, type AnyProvisionedKind } from '../fleets/compute-registry.js';
import type { RequestedFleet, SizingField } from '../fleets/compute-kinds.js';
import { awsRegion, fleetSpecSchema, type FleetSpec } from '../fleets/spec.js';
import { quote, type FieldProblem, type FieldValue, type IssueForm } from './form.js';
import { fleetLocked } from './messages.js';
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
/** The request form's Compute options: each provisioned compute type by its label. */
const computeChoices = new Map(Object.values(PROVISIONED_COMPUTE).map((kind) => [kind.label, kind]));
const sizingFields: readonly SizingField[] = ['vcpu', 'memory', 'instance-types'];
const spotOption = 'Use spot capacity, fall back to on-demand';

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

/** The Compute answer: the module of the compute type it names. */
function computeChoice(text: string | undefined): Check<AnyProvisionedKind> {
  const choices = [...computeChoices.keys()].join(', ');
  if (text === undefined) return reject(`required: expected one of ${choices}`);
  const kind = computeChoices.get(text);
  return kind ? accept(kind) : reject(`expected one of ${choices}; got ${quote(text)}`);
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

/** Which form of image applies depends on Compute; without one, Compute's own problem says what is wrong there. */
function runnerImage(text: string | undefined, kind: AnyProvisionedKind | undefined): Check<string> {
  const kinds = Object.values(PROVISIONED_COMPUTE);
  const expected = kind ? kind.image.rule : kinds.map((each) => `${each.image.noun} (${each.label})`).join(' or ');
  if (text === undefined) return reject(`required: expected ${expected}`);
  return kind ? kind.image.check(text) : accept(text);
}

/** The sizing fields mean something only once Compute is known; until then Compute's own problem is the one to fix. */
function readSizing(answers: AnswerReader<keyof typeof requestLabels>, kind: AnyProvisionedKind | undefined): unknown {
  if (kind) return kind.readSizing((field, check) => answers.text(field, check));
  for (const field of sizingFields) answers.text(field, accept);
  return undefined;
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
  const kind = answers.text('compute', computeChoice);
  const sizing = readSizing(answers, kind);
  const spot = answers.checked('spot')?.includes(spotOption) ?? false;
  const max = answers.text('max-runners', maxRunners);
  const warm = answers.text('warm-runners', (text) => warmRunners(text, max));
  const image = answers.text('image', (text) => runnerImage(text, kind));
  const subnetIds = answers.text('subnets', (text) => subnets(text, defaults.subnets));
  const groups = answers.text('security-groups', (text) => securityGroups(text, defaults.securityGroups));
  const fleetRegion = answers.text('region', (text) => region(text, defaults.region));
  answers.text('justification', (text) => prose(text, 10, 'what the fleet is for and why'), 'multiline');

  const problems = answers.problems;
  if (problems.length > 0) return { ok: false, problems };

  const fleet: RequestedFleet = {
    name: name!,
    resourceName: `fleetbot-${name}`,
    image: image!,
    region: fleetRegion!,
    subnets: subnetIds!,
    securityGroups: groups!,
    spot,
    assignPublicIp: defaults.assignPublicIp,
    requestIssue: context.requestIssue,
  };
  // Warm runners register at the organisation (or user) that owns the IssueOps repository.
  const warmPool = warm ? { warmRunners: { count: warm, owner: context.warmPoolOwner } } : {};
  return { ok: true, spec: checkedSpec({ name, labels, maxRunners: max, ...warmPool, ...kind!.request(fleet, sizing) }) };
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

/** The names a new fleet's name must keep clear of. */
export interface TakenNames {
  /** Every fleet serving jobs: from the fleets file and applied by IssueOps. */
  fleets: readonly string[];
  /** The fleet locks other requests hold. */
  locks: readonly { fleet: string; issueNumber: number }[];
}

/**
 * Why a new fleet may not be called `name`, or undefined when it may: the name is a fleet's already, or
 * another request's, or extends another fleet's name with "-". Runner names are `<fleet>-<job>-…`, and
 * the fleet of a runner is found by the longest fleet name that prefixes it: a job id that starts with the
 * rest of the longer name (a GitLab job id starts with its host) would be taken for the other fleet's.
 * And a runner role applied before credentials had a level per fleet reads `/fleetbot/runners/<fleet>-*`,
 * which matches `<fleet>-<more>/…` too, until that fleet is applied again.
 */
export function fleetNameConflict(name: string, taken: TakenNames): string | undefined {
  if (taken.fleets.includes(name)) return `a fleet named "${name}" already exists`;
  const overlapping = taken.fleets.find((fleet) => name.startsWith(`${fleet}-`) || fleet.startsWith(`${name}-`));
  if (overlapping) {
    return `"${name}" and the existing fleet "${overlapping}" would mix up their runners (one name starts with the other plus "-")`;
  }
  const lock = taken.locks.find((entry) => entry.fleet === name);
  return lock ? fleetLocked.name(name, lock.issueNumber) : undefined;
}
