import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseIssueBody, readIssueForm, type FormParse, type IssueForm } from '../../../src/issueops/form.js';

const fixtures = fileURLToPath(new URL('../../fixtures/issue-forms', import.meta.url));
const templates = fileURLToPath(new URL('../../../issue-templates', import.meta.url));

const requestForm = readIssueForm(readFileSync(join(templates, 'request-fleet.yml'), 'utf8'));
const deleteForm = readIssueForm(readFileSync(join(templates, 'delete-fleet.yml'), 'utf8'));

/** A case folder: issue.md parsed with its own template.yml, or with the fleet request form. */
function loadCase(name: string): { body: string; form: IssueForm; expected: { values: object } | { problems: object[] } } {
  const folder = join(fixtures, name);
  const ownTemplate = join(folder, 'template.yml');
  return {
    body: readFileSync(join(folder, 'issue.md'), 'utf8'),
    form: existsSync(ownTemplate) ? readIssueForm(readFileSync(ownTemplate, 'utf8')) : requestForm,
    expected: JSON.parse(readFileSync(join(folder, 'expected.json'), 'utf8')) as { values: object } | { problems: object[] },
  };
}

/** expected.json cannot hold undefined, so absent answers are left out there. */
function comparable(parse: FormParse): { values: object } | { problems: object[] } {
  return parse.ok ? { values: JSON.parse(JSON.stringify(parse.values)) as object } : { problems: parse.problems };
}

function parseCase(name: string): FormParse {
  const { body, form } = loadCase(name);
  return parseIssueBody(body, form);
}

/** Renders answers the way GitHub renders a form submission. */
function renderBody(answers: [label: string, value: string][]): string {
  return answers.map(([label, value]) => `### ${label}\n\n${value}`).join('\n\n');
}

describe('issue form fixtures', () => {
  const cases = readdirSync(fixtures, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);

  it('has a folder for every scenario the parser must handle', () => {
    expect(cases).toEqual(
      expect.arrayContaining([
        'valid-fargate',
        'valid-ec2',
        'no-response',
        'crlf',
        'checkbox-upper-x',
        'checkbox-unchecked',
        'render-fence',
        'spoofed-heading-in-textarea',
        'heading-mid-line',
        'unknown-heading',
        'duplicate-heading',
        'missing-heading',
        'dropdown-none',
        'dropdown-unknown-option',
      ]),
    );
  });

  it.each(cases)('parses %s as expected.json says', (name) => {
    const { body, form, expected } = loadCase(name);
    expect(comparable(parseIssueBody(body, form))).toEqual(expected);
  });
});

describe('reading an issue form template', () => {
  it('reads the fleet request form: fields in order, markdown dropped', () => {
    expect(requestForm.name).toBe('Request a runner fleet');
    expect(requestForm.labels).toEqual(['fleet-request']);
    expect(requestForm.fields.map((field) => [field.id, field.label, field.type, field.required])).toEqual([
      ['name', 'Fleet name', 'input', true],
      ['ci', 'CI system', 'dropdown', true],
      ['labels', 'Runner labels', 'input', true],
      ['compute', 'Compute', 'dropdown', true],
      ['vcpu', 'vCPU', 'input', false],
      ['memory', 'Memory (GiB)', 'input', false],
      ['instance-types', 'Instance types', 'input', false],
      ['spot', 'Spot', 'checkboxes', false],
      ['max-runners', 'Maximum runners', 'input', true],
      ['warm-runners', 'Warm runners', 'input', false],
      ['image', 'Runner image', 'input', true],
      ['subnets', 'Subnets', 'input', false],
      ['security-groups', 'Security groups', 'input', false],
      ['region', 'Region', 'input', false],
      ['justification', 'Justification', 'textarea', true],
    ]);
  });

  it('reads the options of dropdowns and checkboxes', () => {
    const byId = new Map(requestForm.fields.map((field) => [field.id, field]));
    expect(byId.get('ci')?.options).toEqual(['GitHub Actions']);
    expect(byId.get('compute')?.options).toEqual(['ECS Fargate', 'EC2']);
    expect(byId.get('spot')?.options).toEqual(['Use spot capacity, fall back to on-demand']);
    expect(byId.get('name')?.options).toEqual([]);
  });

  it('reads the fleet deletion form', () => {
    expect(deleteForm).toEqual({
      name: 'Delete a runner fleet',
      labels: ['fleet-delete'],
      fields: [
        { id: 'name', label: 'Fleet name', type: 'input', required: true, render: false, options: [] },
        { id: 'reason', label: 'Reason', type: 'textarea', required: true, render: false, options: [] },
      ],
    });
  });

  it('marks a textarea with render: as fenced', () => {
    const form = readIssueForm(readFileSync(join(fixtures, 'render-fence/template.yml'), 'utf8'));
    expect(form.fields.map((field) => field.render)).toEqual([true, false]);
  });

  it('accepts labels written as a comma-separated string', () => {
    const form = readIssueForm(`
name: Bug
labels: "bug, triage"
body:
  - type: input
    id: what
    attributes: { label: What }
`);
    expect(form.labels).toEqual(['bug', 'triage']);
  });

  it.each([
    ['YAML that does not parse', 'name: [unclosed', /YAML syntax/],
    ['a template without a body', 'name: Bug\n', /body/],
    ['a field without a label', 'name: Bug\nbody:\n  - type: input\n    id: what\n    attributes: {}\n', /body\.0\.attributes\.label/],
    ['a field without an id', 'name: Bug\nbody:\n  - type: input\n    attributes: { label: What }\n', /body\.0\.id/],
    ['an unknown field type', 'name: Bug\nbody:\n  - type: slider\n    id: what\n    attributes: { label: What }\n', /body\.0\.type/],
    [
      'a dropdown without options',
      'name: Bug\nbody:\n  - type: dropdown\n    id: what\n    attributes: { label: What, options: [] }\n',
      /body\.0\.attributes\.options/,
    ],
    [
      'a multiple-choice dropdown',
      'name: Bug\nbody:\n  - type: dropdown\n    id: what\n    attributes: { label: What, options: [a, b], multiple: true }\n',
      /multiple-choice dropdowns are not supported/,
    ],
    ['only markdown', 'name: Bug\nbody:\n  - type: markdown\n    attributes: { value: Hi }\n', /no fields, only markdown/],
    [
      'two fields with one label',
      'name: Bug\nbody:\n  - type: input\n    id: a\n    attributes: { label: What }\n  - type: input\n    id: b\n    attributes: { label: What }\n',
      /two fields have the label "What"/,
    ],
    [
      'two fields with one id',
      'name: Bug\nbody:\n  - type: input\n    id: a\n    attributes: { label: What }\n  - type: input\n    id: a\n    attributes: { label: Why }\n',
      /two fields have the id "a"/,
    ],
  ])('rejects %s with a clear error', (_, yaml, message) => {
    expect(() => readIssueForm(yaml)).toThrow(message);
  });
});

describe('parsing a fleet request body', () => {
  it('keeps a "### Fleet name" typed inside the justification as justification text', () => {
    const parse = parseCase('spoofed-heading-in-textarea');
    expect(parse.ok && parse.values.name).toBe('linux-build');
    expect(parse.ok && parse.values.justification).toContain('### Fleet name\n\nprod-admin');
  });

  it('keeps unknown headings inside a textarea as its text', () => {
    const parse = parseCase('spoofed-heading-in-textarea');
    expect(parse.ok && parse.values.justification).toContain('### Notes');
  });

  it("rejects a later field's heading typed into an earlier input instead of letting it take that field's place", () => {
    const parse = parseCase('spoofed-heading-in-input');
    expect(parse).toEqual({
      ok: false,
      problems: [{ field: 'Subnets', message: 'duplicate heading: "### Subnets" appears more than once' }],
    });
  });

  it("rejects the next field's heading typed into a textarea, since it would hide the real answer", () => {
    expect(parseCase('spoofed-next-heading-in-textarea')).toMatchObject({
      ok: false,
      problems: [{ field: 'Size', message: expect.stringContaining('duplicate heading') }],
    });
  });

  it('rejects a textarea that repeats its own heading', () => {
    const body = renderBody([
      ['Fleet name', 'linux-build'],
      ['Reason', 'Replaced by linux-large.\n\n### Reason\n\nA second reason.'],
    ]);
    expect(parseIssueBody(body, deleteForm)).toEqual({
      ok: false,
      problems: [{ field: 'Reason', message: 'duplicate heading: "### Reason" appears more than once' }],
    });
  });

  it("rejects an earlier field's heading typed into an input: only textareas may hold heading lines", () => {
    const form = readIssueForm(readFileSync(join(fixtures, 'spoofed-next-heading-in-textarea/template.yml'), 'utf8'));
    const body = renderBody([
      ['Notes', 'Fine.'],
      ['Size', 'small\n\n### Notes\n\nSomething else.'],
    ]);
    expect(parseIssueBody(body, form)).toEqual({
      ok: false,
      problems: [{ field: 'Notes', message: 'duplicate heading: "### Notes" appears more than once' }],
    });
  });

  it('treats "###" in the middle of a line as text', () => {
    const parse = parseCase('heading-mid-line');
    expect(parse.ok && parse.values.name).toBe('linux-build ### CI system');
  });

  it('treats _No response_, None and empty answers as absent', () => {
    const body = renderBody([
      ['Fleet name', '_No response_'],
      ['Reason', ''],
    ]);
    expect(parseIssueBody(body, deleteForm)).toEqual({ ok: true, values: { name: undefined, reason: undefined } });
    expect(
      parseIssueBody(
        renderBody([
          ['Fleet name', 'None'],
          ['Reason', 'x'],
        ]),
        deleteForm,
      ),
    ).toEqual({
      ok: true,
      values: { name: undefined, reason: 'x' },
    });
  });

  it('gives every field of the form a key, absent answers included', () => {
    const parse = parseCase('no-response');
    expect(parse.ok && Object.keys(parse.values)).toEqual(requestForm.fields.map((field) => field.id));
  });

  it('reports every missing heading of an empty body', () => {
    const parse = parseIssueBody('', deleteForm);
    expect(parse).toEqual({
      ok: false,
      problems: [
        { field: 'Fleet name', message: 'missing: expected a "### Fleet name" heading' },
        { field: 'Reason', message: 'missing: expected a "### Reason" heading' },
      ],
    });
  });

  it('reports an unknown heading before the first field', () => {
    const body = `### Summary\n\n${renderBody([
      ['Fleet name', 'linux-build'],
      ['Reason', 'Unused.'],
    ])}`;
    expect(parseIssueBody(body, deleteForm)).toEqual({
      ok: false,
      problems: [{ field: 'Fleet name', message: 'unknown heading "### Summary"' }],
    });
  });

  it('strips the code fence of a render: textarea once, keeping fences inside it', () => {
    const parse = parseCase('render-fence');
    expect(parse.ok && parse.values.logs).toBe('$ make\n```text\nnested fence stays\n```\nmake: *** [all] Error 1');
  });
});
