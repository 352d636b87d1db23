import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

/**
 * The control plane's roles take the app's permissions from images/fleetbot/iam-policy.json (and, for
 * IssueOps, iam-policy-issueops.json), the files test/unit/images/iam-policy.test.ts holds to the calls
 * src/ makes: least privilege has one source. This fills in their placeholders.
 */

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** What each placeholder of the policy files stands for: a value, a list of them, or none (the statement is left out). */
export type PolicyPlaceholders = Record<string, string | readonly string[] | undefined>;

/**
 * DynamoDB and SQS come from the stack, not the file: the table and queue are the stack's own, and each
 * role uses the queue differently (the webhook function only sends).
 */
const STACK_SCOPED_SERVICES = ['dynamodb:', 'sqs:'];

export function readPolicyFile(file: 'iam-policy.json' | 'iam-policy-issueops.json'): PolicyDocument {
  return JSON.parse(readFileSync(join(packageRoot(), 'images', 'fleetbot', file), 'utf8')) as PolicyDocument;
}

function actionsOf(statement: PolicyStatement): string[] {
  return [statement.Action].flat();
}

function placeholdersIn(statement: PolicyStatement): string[] {
  return [...new Set([...JSON.stringify(statement).matchAll(/<([a-z-]+)>/g)].map((match) => match[1]))];
}

/** Every string under `value` with `<name>` replaced by each of `values`: a string becomes a list, a list grows. */
function expand(value: unknown, name: string, values: readonly string[]): unknown {
  const each = (text: string) => (text.includes(`<${name}>`) ? values.map((one) => text.replaceAll(`<${name}>`, one)) : [text]);
  if (typeof value === 'string') {
    const expanded = each(value);
    return expanded.length === 1 ? expanded[0] : expanded;
  }
  if (Array.isArray(value)) return value.flatMap((item) => (typeof item === 'string' ? each(item) : [expand(item, name, values)]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, expand(item, name, values)]));
  }
  return value;
}

/**
 * One statement with its placeholders filled, or none when a placeholder has no value (undefined, or an
 * empty list). A list fills one statement: `cluster/<cluster>` becomes one ARN per cluster, in its
 * Resource or condition, which IAM reads as any of them.
 */
function renderStatement(statement: PolicyStatement, values: PolicyPlaceholders): PolicyStatement[] {
  const names = placeholdersIn(statement);
  const unknown = names.filter((name) => !Object.hasOwn(values, name));
  if (unknown.length > 0)
    throw new Error(`policy statement ${statement.Sid}: no value for ${unknown.map((name) => `<${name}>`).join(', ')}`);
  const filled = names.map((name) => ({ name, values: [values[name] ?? []].flat() }));
  if (filled.some((placeholder) => placeholder.values.length === 0)) return [];
  let rendered: unknown = statement;
  for (const placeholder of filled) rendered = expand(rendered, placeholder.name, placeholder.values);
  return [rendered as PolicyStatement];
}

/** The file's statements with every placeholder filled, leaving out DynamoDB and SQS (see STACK_SCOPED_SERVICES). */
export function renderPolicy(policy: PolicyDocument, values: PolicyPlaceholders): PolicyStatement[] {
  return policy.Statement.filter(
    (statement) => !actionsOf(statement).every((action) => STACK_SCOPED_SERVICES.some((service) => action.startsWith(service))),
  ).flatMap((statement) => renderStatement(statement, values));
}

/** A policy document's JSON; Terraform resolves the tokens (account id) inside it. */
export function policyJson(statements: readonly PolicyStatement[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: [...statements] } satisfies PolicyDocument);
}
