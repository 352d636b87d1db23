/**
 * The vocabulary of answer checks, shared by the request form (src/issueops/request.ts) and the compute
 * types' own checks (src/fleets/compute-*.ts): a check accepts a value or gives one problem, in words the
 * author of the answer can act on.
 */

export type Check<T> = { value: T } | { problem: string };
export type TextCheck<T> = (text: string | undefined) => Check<T>;

export const accept = <T>(value: T): Check<T> => ({ value });
export const reject = (problem: string): Check<never> => ({ problem });

/** An answer shown back in a problem: quoted with control characters escaped, and cut when long. */
export function quote(text: string): string {
  const limit = 60;
  return JSON.stringify(text.length > limit ? `${text.slice(0, limit)}…` : text);
}

export function mustBeEmpty(message: string): TextCheck<undefined> {
  return (text) => (text === undefined ? accept(undefined) : reject(message));
}

function commaSeparated(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

export interface ListRule {
  pattern: RegExp;
  /** What one entry looks like, for messages. */
  entry: string;
  noun: string;
  max: number;
}

/** A comma-separated list whose every entry matches the rule, without duplicates (compared case-insensitively). */
export function list(text: string, rule: ListRule): Check<string[]> {
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
