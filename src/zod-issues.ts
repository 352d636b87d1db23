import type { z } from 'zod';

export interface ZodIssueFormat {
  /** What an issue about the value as a whole is said to be about; '(top level)' unless given. */
  whole?: string;
  /** Names a path in the reader's terms (a flag, a fleet by its name); the dotted path unless given. */
  describePath?: (path: PropertyKey[]) => string;
}

/** Every problem zod found, one `<where>: <message>` each, for an error message or a comment. */
export function formatZodIssues(error: z.ZodError, format: ZodIssueFormat = {}): string[] {
  const { whole = '(top level)', describePath = (path: PropertyKey[]) => path.map(String).join('.') } = format;
  return error.issues.map((issue) => `${describePath(issue.path) || whole}: ${issue.message}`);
}
