import { z } from 'zod';
import { formatZodIssues } from '../../src/zod-issues.js';

function errorOf(schema: z.ZodType, value: unknown): z.ZodError {
  const result = schema.safeParse(value);
  if (result.success) throw new Error('expected the value to be refused');
  return result.error;
}

describe('formatZodIssues', () => {
  const schema = z.object({ name: z.string(), groups: z.array(z.string().startsWith('sg-')) });

  it('lists every issue as its dotted path and message', () => {
    expect(formatZodIssues(errorOf(schema, { name: 1, groups: ['sg-1', 'x'] }))).toEqual([
      'name: Invalid input: expected string, received number',
      'groups.1: Invalid string: must start with "sg-"',
    ]);
  });

  it('says "(top level)" for an issue about the whole value, or what the caller calls it', () => {
    expect(formatZodIssues(errorOf(schema, 'text'))).toEqual(['(top level): Invalid input: expected object, received string']);
    expect(formatZodIssues(errorOf(schema, null), { whole: '(payload)' })).toEqual([
      '(payload): Invalid input: expected object, received null',
    ]);
  });

  it("names paths in the caller's terms", () => {
    const describePath = ([key, index]: PropertyKey[]) => `--${String(key)}${typeof index === 'number' ? ` #${index + 1}` : ''}`;
    expect(formatZodIssues(errorOf(schema, { name: 'a', groups: ['x'] }), { describePath })).toEqual([
      '--groups #1: Invalid string: must start with "sg-"',
    ]);
  });
});
