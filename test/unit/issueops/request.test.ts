import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseIssueBody, readIssueForm, type FieldValue, type IssueForm } from '../../../src/issueops/form.js';
import { parse as parseYaml } from 'yaml';
import {
  fleetNameConflict,
  requestFormAsRead,
  validateDeleteRequest,
  validateFleetRequest,
  type RequestContext,
} from '../../../src/issueops/request.js';

type Values = Record<string, FieldValue | undefined>;

const requestTemplate = readFileSync(fileURLToPath(new URL('../../../issue-templates/request-fleet.yml', import.meta.url)), 'utf8');
const requestForm = readIssueForm(requestTemplate);

const SPOT = 'Use spot capacity, fall back to on-demand';
const SUBNET = 'subnet-0123456789abcdef0';
const IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/runner:2.330.0';

function context(overrides: Partial<RequestContext> = {}): RequestContext {
  return {
    defaults: { region: 'us-east-1', subnets: [SUBNET], securityGroups: [], assignPublicIp: false },
    nameTaken: () => undefined,
    requestIssue: 42,
    warmPoolOwner: 'acme',
    ...overrides,
  };
}

/** Answers as parseIssueBody gives them for a valid Fargate request. */
const fargate: Values = {
  name: 'linux-build',
  ci: 'GitHub Actions',
  labels: 'linux, x64, build',
  compute: 'ECS Fargate',
  vcpu: '2',
  memory: '8',
  'instance-types': undefined,
  spot: [SPOT],
  'max-runners': '20',
  'warm-runners': undefined,
  image: IMAGE,
  subnets: undefined,
  'security-groups': undefined,
  region: undefined,
  justification: 'Integration tests need 8 GiB and time out on the shared runners.',
};

const ec2: Values = {
  ...fargate,
  compute: 'EC2',
  vcpu: undefined,
  memory: undefined,
  'instance-types': 'm7i.large, m6i.large',
  spot: [],
  image: 'ami-0123456789abcdef0',
};

const fargateSpec = {
  name: 'linux-build',
  ci: 'github',
  labels: ['self-hosted', 'linux', 'x64', 'build'],
  maxRunners: 20,
  runnerGroupId: 1,
  credentials: 'jit',
  idleTimeoutSeconds: 300,
  compute: {
    type: 'ecs',
    cluster: 'fleetbot-linux-build',
    taskDefinition: 'fleetbot-linux-build',
    containerName: 'runner',
    subnets: [SUBNET],
    securityGroups: [],
    assignPublicIp: false,
    capacityProviders: ['FARGATE_SPOT', 'FARGATE'],
  },
  provision: { region: 'us-east-1', image: IMAGE, cpu: 2048, memoryMiB: 8192, securityGroups: [], requestIssue: 42 },
};

function problemsOf(values: Values, requestContext = context()) {
  const result = validateFleetRequest(values, requestContext);
  if (result.ok) throw new Error(`expected problems, got a spec: ${JSON.stringify(result.spec)}`);
  return result.problems;
}

/** The one problem a request has, which must be on `field`. */
function problemWith(field: string, values: Values, requestContext = context()): string {
  const problems = problemsOf(values, requestContext);
  expect(problems.map((problem) => problem.field)).toEqual([field]);
  return problems[0]!.message;
}

function specOf(values: Values, requestContext = context()) {
  const result = validateFleetRequest(values, requestContext);
  if (!result.ok) throw new Error(`expected a spec, got problems: ${JSON.stringify(result.problems)}`);
  return result.spec;
}

/** Renders answers (by field id) the way GitHub renders a submitted issue form. */
function renderSubmission(form: IssueForm, answers: Values): string {
  return form.fields
    .map((field) => {
      const answer = answers[field.id];
      const value =
        field.type === 'checkboxes'
          ? field.options.map((option) => `- [${answer?.includes(option) ? 'X' : ' '}] ${option}`).join('\n')
          : ((answer as string | undefined) ?? '_No response_');
      return `### ${field.label}\n\n${value}`;
    })
    .join('\n\n');
}

describe('a valid fleet request', () => {
  it('becomes an ECS Fargate FleetSpec with the resources Terraform will build', () => {
    expect(specOf(fargate)).toEqual(fargateSpec);
  });

  it('becomes an EC2 FleetSpec whose instance types are tried in order', () => {
    expect(specOf(ec2)).toEqual({
      name: 'linux-build',
      ci: 'github',
      labels: ['self-hosted', 'linux', 'x64', 'build'],
      maxRunners: 20,
      runnerGroupId: 1,
      credentials: 'jit',
      idleTimeoutSeconds: 300,
      compute: {
        type: 'ec2',
        launchTemplate: 'fleetbot-linux-build',
        instanceTypes: ['m7i.large', 'm6i.large'],
        subnets: [SUBNET],
        spot: false,
      },
      provision: { region: 'us-east-1', image: 'ami-0123456789abcdef0', securityGroups: [], requestIssue: 42 },
    });
  });

  it('survives a round trip: rendered from request-fleet.yml as GitHub does, parsed, validated', () => {
    const body = renderSubmission(requestForm, fargate);
    const parsed = parseIssueBody(body, requestForm);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    expect(validateFleetRequest(parsed.values, context())).toEqual({ ok: true, spec: fargateSpec });
  });

  it('uses the configured subnets, security groups, region and public IP setting when the form leaves them empty', () => {
    const spec = specOf(
      fargate,
      context({
        defaults: {
          region: 'eu-west-1',
          subnets: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
          securityGroups: ['sg-0cccccccccccccccc'],
          assignPublicIp: true,
        },
      }),
    );
    expect(spec.compute).toMatchObject({
      subnets: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
      securityGroups: ['sg-0cccccccccccccccc'],
      assignPublicIp: true,
    });
    expect(spec.provision).toMatchObject({ region: 'eu-west-1', securityGroups: ['sg-0cccccccccccccccc'] });
  });

  it('prefers the subnets and security groups the form names over the defaults', () => {
    const spec = specOf({
      ...fargate,
      subnets: 'subnet-0aaaaaaaaaaaaaaaa',
      'security-groups': 'sg-0cccccccccccccccc, sg-0dddddddddddddddd',
    });
    expect(spec.compute).toMatchObject({
      subnets: ['subnet-0aaaaaaaaaaaaaaaa'],
      securityGroups: ['sg-0cccccccccccccccc', 'sg-0dddddddddddddddd'],
    });
    expect(spec.provision?.securityGroups).toEqual(['sg-0cccccccccccccccc', 'sg-0dddddddddddddddd']);
  });

  it('accepts the default region written out', () => {
    expect(specOf({ ...fargate, region: 'us-east-1' }).provision?.region).toBe('us-east-1');
  });
});

describe('Fleet name', () => {
  it.each(['ab', 'a'.repeat(41), '-linux', 'linux-', 'Linux', 'linux_build', 'linux.build', 'linux build'])('rejects %j', (name) => {
    expect(problemWith('Fleet name', { ...fargate, name })).toBe(
      `expected 3-40 characters of a-z, 0-9 and "-", not starting or ending with "-"; got ${JSON.stringify(name)}`,
    );
  });

  it('accepts 3 and 40 characters', () => {
    expect(specOf({ ...fargate, name: 'abc' }).name).toBe('abc');
    expect(specOf({ ...fargate, name: 'a'.repeat(40) }).name).toBe('a'.repeat(40));
  });

  it('is required', () => {
    expect(problemWith('Fleet name', { ...fargate, name: undefined })).toMatch(/^required: expected 3-40 characters/);
  });

  it('says why a taken name cannot be used', () => {
    const taken = context({ nameTaken: (name) => (name === 'linux-build' ? 'a live fleet has this name' : undefined) });
    expect(problemWith('Fleet name', fargate, taken)).toBe('"linux-build" cannot be used: a live fleet has this name');
  });
});

describe('CI system', () => {
  it('is GitHub Actions, the only system the form offers', () => {
    expect(requestForm.fields.find((field) => field.id === 'ci')?.options).toEqual(['GitHub Actions']);
  });

  it('says in the form where GitLab CI and CircleCI fleets go', () => {
    const template = parseYaml(requestTemplate) as {
      description: string;
      body: Array<{ id?: string; attributes: { description?: string } }>;
    };
    expect(template.description).toMatch(/GitLab CI and CircleCI fleets go in the fleets file, with the SSM parameters of their tokens/);
    expect(template.body.find((item) => item.id === 'ci')?.attributes.description).toMatch(
      /GitLab CI and CircleCI fleets go in the fleets file, with their token parameters/,
    );
  });

  it.each(['GitLab CI', 'CircleCI'])('points a %s request to the fleets file: the form requests GitHub Actions fleets', (ci) => {
    expect(problemWith('CI system', { ...fargate, ci })).toBe(
      `${ci} fleets are set up in the fleets file (see the README); this form requests GitHub Actions fleets`,
    );
  });

  it.each(['GitLab CI', 'CircleCI'])(
    'reads an issue that still names %s (an older form, or edited by hand) and points it to the fleets file',
    (ci) => {
      const parsed = parseIssueBody(
        renderSubmission(requestForm, fargate).replace('\nGitHub Actions\n', `\n${ci}\n`),
        requestFormAsRead(requestForm),
      );
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
      expect(problemWith('CI system', parsed.values)).toMatch(/fleets are set up in the fleets file/);
    },
  );

  it('rejects an answer that is not an option', () => {
    expect(problemWith('CI system', { ...fargate, ci: 'Jenkins' })).toBe('expected GitHub Actions; got "Jenkins"');
  });

  it('is required', () => {
    expect(problemWith('CI system', { ...fargate, ci: undefined })).toBe('required: expected GitHub Actions');
  });
});

describe("the form's choices", () => {
  const choiceFields = requestForm.fields.filter((field) => field.type === 'dropdown' || field.type === 'checkboxes');

  it('are read from request-fleet.yml', () => {
    expect(choiceFields.map((field) => field.id)).toEqual(expect.arrayContaining(['ci', 'compute', 'spot']));
  });

  // Each option on a request that is otherwise valid for it: EC2 with the EC2 answers.
  it.each(choiceFields.flatMap((field) => field.options.map((option) => [field.label, option, field] as const)))(
    'accept every option the form offers: %s "%s"',
    (_label, option, field) => {
      const base = option === 'EC2' ? ec2 : fargate;
      const answer = field.type === 'checkboxes' ? [option] : option;
      expect(validateFleetRequest({ ...base, [field.id]: answer }, context())).toMatchObject({ ok: true });
    },
  );
});

describe('Runner labels', () => {
  it('trims entries, drops empty ones and puts self-hosted first', () => {
    expect(specOf({ ...fargate, labels: ' linux ,, x64 ,' }).labels).toEqual(['self-hosted', 'linux', 'x64']);
  });

  it('does not add self-hosted again when the author wrote it, in any case', () => {
    expect(specOf({ ...fargate, labels: 'linux, Self-Hosted' }).labels).toEqual(['linux', 'Self-Hosted']);
  });

  it('rejects labels outside the safe character set, naming each', () => {
    expect(problemWith('Runner labels', { ...fargate, labels: 'linux, $(id), -x' })).toBe(
      'expected comma-separated labels of 1-64 letters, digits, ".", "_" and "-", each starting with a letter or digit; got "$(id)", "-x"',
    );
  });

  it('rejects more than 20 labels', () => {
    const labels = Array.from({ length: 21 }, (_, index) => `label${index}`).join(', ');
    expect(problemWith('Runner labels', { ...fargate, labels })).toBe('expected at most 20 labels; got 21');
  });

  it('rejects a label given twice, ignoring case', () => {
    expect(problemWith('Runner labels', { ...fargate, labels: 'linux, Linux' })).toBe('"Linux" appears more than once');
  });

  it.each([undefined, ', ,'])('is required (%j)', (labels) => {
    expect(problemWith('Runner labels', { ...fargate, labels })).toMatch(/^required: expected comma-separated labels/);
  });
});

describe('Compute', () => {
  it('rejects an answer that is not an option', () => {
    expect(problemWith('Compute', { ...fargate, compute: 'Lambda' })).toBe('expected one of ECS Fargate, EC2; got "Lambda"');
  });

  it('is required, and the sizing fields wait for it', () => {
    expect(problemWith('Compute', { ...fargate, compute: undefined, 'instance-types': 'm7i.large' })).toBe(
      'required: expected one of ECS Fargate, EC2',
    );
  });
});

describe('ECS Fargate sizing', () => {
  it('rejects a vCPU Fargate does not offer, listing those it does', () => {
    expect(problemWith('vCPU', { ...fargate, vcpu: '3' })).toBe('expected one of 0.25, 0.5, 1, 2, 4, 8, 16; got "3"');
  });

  it('requires a vCPU', () => {
    expect(problemWith('vCPU', { ...fargate, vcpu: undefined })).toBe(
      'required for ECS Fargate: expected one of 0.25, 0.5, 1, 2, 4, 8, 16',
    );
  });

  it('rejects memory that does not fit the vCPU, listing the sizes that do', () => {
    expect(problemWith('Memory (GiB)', { ...fargate, vcpu: '1', memory: '9' })).toBe(
      'expected one of 2, 3, 4, 5, 6, 7, 8 for 1 vCPU; got "9"',
    );
    expect(problemWith('Memory (GiB)', { ...fargate, vcpu: '8', memory: '18' })).toBe(
      'expected one of 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60 for 8 vCPU; got "18"',
    );
  });

  it('requires memory', () => {
    expect(problemWith('Memory (GiB)', { ...fargate, memory: undefined })).toBe(
      'required for ECS Fargate: expected one of 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 for 2 vCPU',
    );
  });

  it.each([
    ['0.25', '0.5', 256, 512],
    ['0.5', '4', 512, 4096],
    ['4', '30', 4096, 30720],
    ['16', '120', 16384, 122880],
  ])('sizes a %s vCPU, %s GiB task in CPU units and MiB', (vcpu, memory, cpu, memoryMiB) => {
    expect(specOf({ ...fargate, vcpu, memory }).provision).toMatchObject({ cpu, memoryMiB });
  });

  it('rejects instance types', () => {
    expect(problemWith('Instance types', { ...fargate, 'instance-types': 'm7i.large' })).toBe(
      'must be empty for ECS Fargate: vCPU and Memory (GiB) set the size',
    );
  });

  it('launches with the FARGATE launch type (no capacity provider strategy) when spot is not checked', () => {
    const spec = specOf({ ...fargate, spot: [] });
    expect(spec.compute.type === 'ecs' && spec.compute.capacityProviders).toBeUndefined();
  });
});

describe('EC2 sizing', () => {
  it('requires instance types', () => {
    expect(problemWith('Instance types', { ...ec2, 'instance-types': undefined })).toBe(
      'required for EC2: expected comma-separated EC2 instance types like m7i.large, tried in order',
    );
  });

  it('rejects an instance type that is not one', () => {
    expect(problemWith('Instance types', { ...ec2, 'instance-types': 'm7i.large, M7I.XL, large' })).toBe(
      'expected comma-separated EC2 instance types like m7i.large; got "M7I.XL", "large"',
    );
  });

  it('rejects more than 10 instance types', () => {
    const types = Array.from({ length: 11 }, (_, index) => `m${index}.large`).join(', ');
    expect(problemWith('Instance types', { ...ec2, 'instance-types': types })).toBe('expected at most 10 instance types; got 11');
  });

  it.each([
    ['vCPU', 'vcpu'],
    ['Memory (GiB)', 'memory'],
  ])('rejects %s: the instance types set the size', (label, id) => {
    expect(problemWith(label, { ...ec2, [id]: '4' })).toBe('must be empty for EC2: the instance types set the size');
  });

  it('uses spot when the Spot box is checked', () => {
    const spec = specOf({ ...ec2, spot: [SPOT] });
    expect(spec.compute.type === 'ec2' && spec.compute.spot).toBe(true);
  });
});

describe('Maximum runners', () => {
  it.each(['10.5', '1e3', '-1', '0', '1001', '+5', 'ten'])('rejects %j', (max) => {
    expect(problemWith('Maximum runners', { ...fargate, 'max-runners': max })).toBe(
      `expected a whole number from 1 to 1000; got ${JSON.stringify(max)}`,
    );
  });

  it('accepts 1 and 1000', () => {
    expect(specOf({ ...fargate, 'max-runners': '1' }).maxRunners).toBe(1);
    expect(specOf({ ...fargate, 'max-runners': '1000' }).maxRunners).toBe(1000);
  });

  it('is required', () => {
    expect(problemWith('Maximum runners', { ...fargate, 'max-runners': undefined })).toBe(
      'required: expected a whole number from 1 to 1000',
    );
  });
});

describe('Warm runners', () => {
  it('accepts 0', () => {
    expect(specOf({ ...fargate, 'warm-runners': '0' })).toEqual(fargateSpec);
  });

  it('rejects more warm runners than the maximum', () => {
    expect(problemWith('Warm runners', { ...fargate, 'warm-runners': '21' })).toBe('expected at most Maximum runners (20); got 21');
  });

  it("keeps a warm pool at the IssueOps repository's owner, always on", () => {
    expect(specOf({ ...fargate, 'warm-runners': '2' }).warmRunners).toEqual({ count: 2, owner: 'acme', timeZone: 'UTC' });
    expect(specOf({ ...ec2, 'warm-runners': '20' }).warmRunners).toEqual({ count: 20, owner: 'acme', timeZone: 'UTC' });
  });

  it('rejects an answer that is not a whole number', () => {
    expect(problemWith('Warm runners', { ...fargate, 'warm-runners': 'some' })).toBe('expected a whole number, 0 or empty; got "some"');
  });
});

describe('Runner image', () => {
  it.each([
    'ghcr.io/example/actions-runner:2.330.0',
    'localhost:5000/runner',
    'ubuntu',
    'example/runner_image-x:Latest',
    `ghcr.io/example/runner@sha256:${'a'.repeat(64)}`,
  ])('accepts the container image %s for Fargate', (image) => {
    expect(specOf({ ...fargate, image }).provision?.image).toBe(image);
  });

  it.each([
    'ghcr.io/Example/runner:1',
    'runner:1; rm -rf /',
    'runner:$(id)',
    'ghcr.io/example/runner@sha256:abc',
    `ghcr.io/${'a'.repeat(250)}`,
  ])('rejects %j for Fargate', (image) => {
    expect(problemWith('Runner image', { ...fargate, image })).toMatch(
      /^expected a container image like 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/runner:2\.330\.0 .*; got "/,
    );
  });

  it.each(['ami-0123456789abcdef0', 'ami-01234567', 'fleetbot-runner-*', 'amzn2-ami-hvm-2.0.* (x86_64) [gp2]'])(
    'accepts the AMI %j for EC2',
    (image) => {
      expect(specOf({ ...ec2, image }).provision?.image).toBe(image);
    },
  );

  it('rejects a malformed AMI id rather than treating it as a name filter', () => {
    expect(problemWith('Runner image', { ...ec2, image: 'ami-xyz123' })).toBe(
      'expected an AMI id like ami-0123456789abcdef0 (8-17 hex digits); got "ami-xyz123"',
    );
  });

  it.each(['runner-$(id)', 'ab', 'runner;reboot', '*runner'])('rejects the AMI name filter %j', (image) => {
    expect(problemWith('Runner image', { ...ec2, image })).toMatch(/^expected an AMI id like ami-0123456789abcdef0 or an AMI name filter/);
  });

  it('is required', () => {
    expect(problemWith('Runner image', { ...fargate, image: undefined })).toMatch(/^required: expected a container image/);
  });
});

describe('Subnets', () => {
  it('rejects an id that is not a subnet id', () => {
    expect(problemWith('Subnets', { ...fargate, subnets: 'subnet-0123456789abcdef0, subnet-xyz' })).toBe(
      'expected comma-separated subnet ids like subnet-0123456789abcdef0; got "subnet-xyz"',
    );
  });

  it('rejects more than 16 subnets', () => {
    const subnets = Array.from({ length: 17 }, (_, index) => `subnet-${String(index).padStart(8, '0')}`).join(',');
    expect(problemWith('Subnets', { ...fargate, subnets })).toBe('expected at most 16 subnets; got 17');
  });

  it('rejects a subnet given twice', () => {
    expect(problemWith('Subnets', { ...fargate, subnets: `${SUBNET}, ${SUBNET}` })).toBe(`"${SUBNET}" appears more than once`);
  });

  it('treats an answer of only commas as empty, so the defaults apply', () => {
    expect(specOf({ ...fargate, subnets: ' , ' }).compute).toMatchObject({ subnets: [SUBNET] });
  });

  it('is required when no default subnets are configured', () => {
    const noDefaults = context({ defaults: { region: 'us-east-1', subnets: [], securityGroups: [], assignPublicIp: false } });
    expect(problemWith('Subnets', fargate, noDefaults)).toBe(
      'required: no default subnets are configured; expected comma-separated subnet ids like subnet-0123456789abcdef0',
    );
  });
});

describe('Security groups', () => {
  it('may end up empty: Terraform then creates one', () => {
    expect(specOf(fargate).provision?.securityGroups).toEqual([]);
  });

  it('rejects an id that is not a security group id', () => {
    expect(problemWith('Security groups', { ...fargate, 'security-groups': 'default' })).toBe(
      'expected comma-separated security group ids like sg-0123456789abcdef0; got "default"',
    );
  });

  it('rejects more than 5 security groups', () => {
    const groups = Array.from({ length: 6 }, (_, index) => `sg-${String(index).padStart(8, '0')}`).join(', ');
    expect(problemWith('Security groups', { ...fargate, 'security-groups': groups })).toBe('expected at most 5 security groups; got 6');
  });
});

describe('Region', () => {
  it('rejects an answer that is not a region', () => {
    expect(problemWith('Region', { ...fargate, region: 'Virginia' })).toBe('expected an AWS region like us-east-1; got "Virginia"');
  });

  it("rejects any region but the one fleetbot keeps its runners' credentials in", () => {
    expect(problemWith('Region', { ...fargate, region: 'eu-west-1' })).toBe(
      'this fleetbot builds fleets in us-east-1 only (its runners read their credentials there); leave Region empty or write us-east-1',
    );
  });
});

describe('Justification', () => {
  it('is required', () => {
    expect(problemWith('Justification', { ...fargate, justification: undefined })).toBe('required: expected what the fleet is for and why');
  });

  it('needs at least 10 characters that are not spaces', () => {
    expect(problemWith('Justification', { ...fargate, justification: 'a b c d e f g h i' })).toBe(
      'expected at least 10 characters (not counting spaces) of what the fleet is for and why',
    );
  });

  it('accepts at most 4000 characters', () => {
    expect(problemWith('Justification', { ...fargate, justification: 'x'.repeat(4001) })).toBe(
      'expected at most 4000 characters; got 4001',
    );
    expect(specOf({ ...fargate, justification: 'x'.repeat(4000) }).name).toBe('linux-build');
  });

  it('may span several lines and hold tabs', () => {
    expect(specOf({ ...fargate, justification: 'Release builds:\n\t- need 8 GiB\n\t- run nightly' }).name).toBe('linux-build');
  });
});

describe('unsafe characters', () => {
  it.each([
    ['\u200b', 'U+200B'],
    ['\u200f', 'U+200F'],
    ['\u202e', 'U+202E'],
    ['\u2060', 'U+2060'],
    ['\u2066', 'U+2066'],
    ['\ufeff', 'U+FEFF'],
  ])('rejects the zero-width or text-direction character %j', (character, codePoint) => {
    expect(problemWith('Fleet name', { ...fargate, name: `linux${character}-build` })).toBe(
      `contains the invisible character ${codePoint} (zero-width or text direction), which can hide what the text says; remove it`,
    );
  });

  it('rejects them in the justification too, which goes to no pattern', () => {
    expect(problemWith('Justification', { ...fargate, justification: 'Needed for \u202ereleases, not tests.' })).toMatch(
      /^contains the invisible character U\+202E/,
    );
  });

  it('rejects control characters', () => {
    expect(problemWith('Justification', { ...fargate, justification: 'Release builds\u0007 need more memory.' })).toBe(
      'contains the control character U+0007; expected plain text',
    );
    expect(problemWith('Runner image', { ...fargate, image: `${IMAGE}\u001b[2J` })).toBe(
      'contains the control character U+001B; expected plain text',
    );
  });

  it('rejects a line break in a single-line answer', () => {
    expect(problemWith('Runner labels', { ...fargate, labels: 'linux,\nx64' })).toBe('expected a single line; got a line break');
  });

  it('rejects a list where text is expected', () => {
    expect(problemWith('Fleet name', { ...fargate, name: ['linux-build'] })).toBe('expected text, got a list of options');
  });
});

describe('problems', () => {
  it('lists every field with a problem at once, one problem per field, in form order', () => {
    const problems = problemsOf({
      ...fargate,
      name: 'X',
      ci: 'CircleCI',
      vcpu: '3',
      memory: 'lots',
      'max-runners': '0',
      'warm-runners': 'many',
      subnets: 'subnet-nope',
      region: 'eu-west-1',
      justification: 'because',
    });
    expect(problems.map((problem) => problem.field)).toEqual([
      'Fleet name',
      'CI system',
      'vCPU',
      'Memory (GiB)',
      'Maximum runners',
      'Warm runners',
      'Subnets',
      'Region',
      'Justification',
    ]);
  });

  it('re-checks every required field and names each by the label the form shows', () => {
    const problems = problemsOf({});
    const required = requestForm.fields.filter((field) => field.required).map((field) => field.label);
    expect(problems.map((problem) => problem.field)).toEqual(required);
    expect(problems.every((problem) => problem.message.startsWith('required'))).toBe(true);
  });

  it("throws rather than return a spec the schema rejects: that is a bug, not the author's mistake", () => {
    const brokenDefaults = context({
      defaults: { region: 'us-east-1', subnets: ['not-a-subnet'], securityGroups: [], assignPublicIp: false },
    });
    expect(() => validateFleetRequest(fargate, brokenDefaults)).toThrow(/built an invalid FleetSpec/);
  });
});

describe('a delete request', () => {
  const live = { fleetExists: (name: string) => name === 'linux-build' };

  it('names a live fleet and gives a reason', () => {
    expect(validateDeleteRequest({ name: 'linux-build', reason: 'Replaced by linux-large.' }, live)).toEqual({
      ok: true,
      name: 'linux-build',
      reason: 'Replaced by linux-large.',
    });
  });

  it('rejects a fleet that does not exist', () => {
    expect(validateDeleteRequest({ name: 'linux-huge', reason: 'Unused.' }, live)).toEqual({
      ok: false,
      problems: [{ field: 'Fleet name', message: 'no live fleet named "linux-huge"' }],
    });
  });

  it('lists a malformed name and a missing reason together', () => {
    expect(validateDeleteRequest({ name: 'Linux Build', reason: undefined }, live)).toEqual({
      ok: false,
      problems: [
        {
          field: 'Fleet name',
          message: 'expected 3-40 characters of a-z, 0-9 and "-", not starting or ending with "-"; got "Linux Build"',
        },
        { field: 'Reason', message: 'required: expected why the fleet is no longer needed' },
      ],
    });
  });

  it('rejects invisible characters in the reason', () => {
    expect(validateDeleteRequest({ name: 'linux-build', reason: 'Unused\u200b.' }, live)).toMatchObject({
      ok: false,
      problems: [{ field: 'Reason', message: expect.stringMatching(/^contains the invisible character U\+200B/) }],
    });
  });
});

describe('the names a new fleet may take', () => {
  const taken = { fleets: ['linux', 'gpu-large'], locks: [{ fleet: 'arm', issueNumber: 12 }] };

  it('refuses the name of a fleet that exists', () => {
    expect(fleetNameConflict('linux', taken)).toBe('a fleet named "linux" already exists');
  });

  it('refuses a name that extends another fleet\'s with "-", either way round: their runners would mix up', () => {
    expect(fleetNameConflict('linux-big', taken)).toMatch(/"linux-big" and the existing fleet "linux" would mix up their runners/);
    expect(fleetNameConflict('gpu', taken)).toMatch(/"gpu" and the existing fleet "gpu-large"/);
  });

  it('refuses a name another request is asking for, and takes a free one', () => {
    expect(fleetNameConflict('arm', taken)).toBe('fleet "arm" is already being requested in #12');
    expect(fleetNameConflict('linuxish', taken)).toBeUndefined();
  });
});
