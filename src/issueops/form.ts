import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatZodIssues } from '../zod-issues.js';
import { quote } from '../fleets/checks.js';

/**
 * GitHub issue forms, read strictly. A form submission arrives as markdown: for each field in template
 * order `### <label>`, a blank line, then the answer (or `_No response_`). Nothing here knows about
 * GitHub beyond that rendering; the template is the only source of which headings to expect.
 */

export type FieldType = 'input' | 'textarea' | 'dropdown' | 'checkboxes';

export interface FormField {
  id: string;
  label: string;
  type: FieldType;
  required: boolean;
  /** textarea with `render:` (GitHub wraps the value in a code fence) */
  render: boolean;
  options: string[];
}

/** An issue form without its markdown blocks, which leave nothing in the issue body. */
export interface IssueForm {
  name: string;
  labels: string[];
  fields: FormField[];
}

/** Checkboxes give the labels of the checked options; every other field gives text. */
export type FieldValue = string | string[];

export interface FieldProblem {
  /** The field's label, as the issue author sees it. */
  field: string;
  message: string;
}

export type FormParse = { ok: true; values: Record<string, FieldValue | undefined> } | { ok: false; problems: FieldProblem[] };

const label = z
  .string()
  .trim()
  .min(1)
  .refine((text) => !/[\r\n]/.test(text), 'a label must fit on one line: it becomes a "###" heading');
const fieldId = z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected an id of letters, digits, "_" and "-"');
const validations = z.object({ required: z.boolean().default(false) }).prefault({});

const bodyItemSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('markdown'), attributes: z.object({ value: z.string() }) }),
  z.object({ type: z.literal('input'), id: fieldId, attributes: z.object({ label }), validations }),
  z.object({
    type: z.literal('textarea'),
    id: fieldId,
    attributes: z.object({ label, render: z.string().min(1).optional() }),
    validations,
  }),
  z.object({
    type: z.literal('dropdown'),
    id: fieldId,
    attributes: z.object({
      label,
      options: z.array(z.string().trim().min(1)).min(1),
      // GitHub joins several choices with ", ", which options may contain too: the answer would be ambiguous.
      multiple: z.literal(false, 'multiple-choice dropdowns are not supported').optional(),
    }),
    validations,
  }),
  z.object({
    type: z.literal('checkboxes'),
    id: fieldId,
    attributes: z.object({ label, options: z.array(z.object({ label: z.string().trim().min(1) })).min(1) }),
    validations,
  }),
]);

const issueFormSchema = z.object({
  name: z.string().trim().min(1),
  // GitHub accepts a list or a comma-separated string.
  labels: z
    .union([z.array(z.string().trim().min(1)), z.string()])
    .default([])
    .transform((labels) => (typeof labels === 'string' ? splitLabels(labels) : labels)),
  body: z.array(bodyItemSchema).min(1),
});

function splitLabels(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** Reads an issue form template; throws an Error naming the first broken key when it is malformed. */
export function readIssueForm(yamlText: string): IssueForm {
  let raw: unknown;
  try {
    raw = parseYaml(yamlText);
  } catch (error) {
    throw new Error(`not a valid issue form: YAML syntax: ${(error as Error).message}`);
  }
  const parsed = issueFormSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`not a valid issue form: ${formatZodIssues(parsed.error).join('; ')}`);
  }

  const fields: FormField[] = [];
  for (const item of parsed.data.body) {
    if (item.type === 'markdown') continue;
    fields.push({
      id: item.id,
      label: item.attributes.label,
      type: item.type,
      required: item.validations.required,
      render: item.type === 'textarea' && item.attributes.render !== undefined,
      options:
        item.type === 'dropdown'
          ? item.attributes.options
          : item.type === 'checkboxes'
            ? item.attributes.options.map((option) => option.label)
            : [],
    });
  }
  if (fields.length === 0) throw new Error('not a valid issue form: body has no fields, only markdown');
  // Values are keyed by id and found by heading, so both must be unique.
  for (const key of ['id', 'label'] as const) {
    const seen = new Set<string>();
    for (const field of fields) {
      if (seen.has(field[key])) throw new Error(`not a valid issue form: two fields have the ${key} "${field[key]}"`);
      seen.add(field[key]);
    }
  }
  return { name: parsed.data.name, labels: parsed.data.labels, fields };
}

const headingLine = /^### (.*?)[ \t]*$/;
const absentAnswers = new Set(['', '_No response_', 'None']);
const checkboxLine = /^- \[([ xX])\] (.*?)[ \t]*$/;
const outerFence = /^```[A-Za-z0-9_+.#-]*\n([\s\S]*?)\n?```$/;

/** Line indexes of each field's heading, found in template order: field k's heading is the first after field k-1's. */
function locateHeadings(lines: string[], form: IssueForm): (number | undefined)[] {
  const positions: (number | undefined)[] = [];
  let from = 0;
  for (const field of form.fields) {
    const position = lines.findIndex((line, index) => index >= from && headingText(line) === field.label);
    if (position === -1) {
      positions.push(undefined);
    } else {
      positions.push(position);
      from = position + 1;
    }
  }
  return positions;
}

function headingText(line: string): string | undefined {
  return headingLine.exec(line)?.[1];
}

/**
 * Parses a form submission against its template. A field's answer runs from its heading to the next
 * expected heading. Headings are cut in template order, so a `### Fleet name` line typed in a later
 * textarea stays text there; a heading line anywhere else is a duplicate or an unknown heading, which
 * would let the body say something other than what the approver reads.
 */
export function parseIssueBody(body: string, form: IssueForm): FormParse {
  const lines = body.replace(/\r\n?/g, '\n').split('\n');
  const positions = locateHeadings(lines, form);
  const found = positions.flatMap((position, index) => (position === undefined ? [] : [{ position, index }]));
  const stray = new StrayHeadings(form, positions);

  const problems: FieldProblem[] = [];
  const firstLabel = form.fields[0].label;
  const preamble = lines.slice(0, found[0]?.position ?? lines.length);
  problems.push(...stray.in(preamble, undefined));
  if (preamble.some((line) => line.trim() !== '' && headingText(line) === undefined)) {
    problems.push({ field: firstLabel, message: `unexpected text before "### ${firstLabel}"` });
  }

  const values: Record<string, FieldValue | undefined> = {};
  form.fields.forEach((field, index) => {
    const position = positions[index];
    if (position === undefined) {
      problems.push({ field: field.label, message: missingHeading(lines, form, index) });
      return;
    }
    const next = found.find((heading) => heading.position > position)?.position ?? lines.length;
    const segment = lines.slice(position + 1, next);
    const structural = stray.in(segment, index);
    problems.push(...structural);
    if (structural.length > 0) return;
    const answer = readAnswer(segment.join('\n'), field);
    if ('problem' in answer) problems.push({ field: field.label, message: answer.problem });
    else values[field.id] = answer.value;
  });

  return problems.length > 0 ? { ok: false, problems } : { ok: true, values };
}

/** Heading lines where no heading is expected; each duplicate heading is reported once. */
class StrayHeadings {
  private readonly fieldIndexByLabel: Map<string, number>;
  private readonly reportedDuplicates = new Set<number>();

  constructor(
    private readonly form: IssueForm,
    /** Each field's heading line, as locateHeadings found it. */
    private readonly positions: (number | undefined)[],
  ) {
    this.fieldIndexByLabel = new Map(form.fields.map((field, index) => [field.label, index]));
  }

  /**
   * Heading lines inside the answer of field `owner` (undefined: before the first heading). A textarea
   * keeps unknown headings and headings of earlier fields as its own text; everywhere else they are problems.
   */
  in(segment: string[], owner: number | undefined): FieldProblem[] {
    const stray: FieldProblem[] = [];
    const ownerField = this.form.fields[owner ?? 0];
    const ownerIsTextarea = owner !== undefined && ownerField.type === 'textarea';
    for (const line of segment) {
      const text = headingText(line);
      if (text === undefined) continue;
      const named = this.fieldIndexByLabel.get(text);
      if (named === undefined) {
        if (!ownerIsTextarea) stray.push({ field: ownerField.label, message: `unknown heading "${line.trimEnd()}"` });
        continue;
      }
      // A heading found out of order is reported once, as such, on its own field.
      if (this.positions[named] === undefined) continue;
      if (ownerIsTextarea && named < owner) continue;
      if (this.reportedDuplicates.has(named)) continue;
      this.reportedDuplicates.add(named);
      stray.push({ field: text, message: `duplicate heading: "### ${text}" appears more than once` });
    }
    return stray;
  }
}

function missingHeading(lines: string[], form: IssueForm, index: number): string {
  const field = form.fields[index];
  const present = lines.some((line) => headingText(line) === field.label);
  if (!present) return `missing: expected a "### ${field.label}" heading`;
  const previous = form.fields[index - 1];
  return previous
    ? `out of order: expected "### ${field.label}" after "### ${previous.label}"`
    : `out of order: expected "### ${field.label}" first`;
}

type Answer = { value: FieldValue | undefined } | { problem: string };

function readAnswer(raw: string, field: FormField): Answer {
  const text = raw.trim();
  const absent = absentAnswers.has(text);
  switch (field.type) {
    case 'checkboxes':
      return absent ? { value: [] } : readCheckboxes(text, field);
    case 'dropdown':
      if (absent) return { value: undefined };
      return field.options.includes(text)
        ? { value: text }
        : { problem: `expected one of ${field.options.join(', ')}; got ${quote(text)}` };
    case 'textarea': {
      if (absent) return { value: undefined };
      const fenced = field.render ? outerFence.exec(text) : null;
      const value = fenced ? fenced[1] : text;
      return { value: value.trim() === '' ? undefined : value };
    }
    case 'input':
      return { value: absent ? undefined : text };
  }
}

function readCheckboxes(text: string, field: FormField): Answer {
  const checked: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const box = checkboxLine.exec(line);
    if (!box) return { problem: `expected one "- [X] option" or "- [ ] option" line per option; got ${quote(line)}` };
    const [, mark, option] = box;
    if (mark === ' ') continue;
    if (!field.options.includes(option)) {
      return { problem: `unknown option ${quote(option)} is checked; expected one of ${field.options.join(', ')}` };
    }
    if (!checked.includes(option)) checked.push(option);
  }
  return { value: checked };
}

/** Quotes text from the issue for a problem message, short and with control characters escaped. */
export { quote };
