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

/** What each placeholder of the policy files stands for. A list copies the statement per value; empty drops it. */
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

function substitute(statement: PolicyStatement, name: string, value: string): PolicyStatement {
  return JSON.parse(JSON.stringify(statement).replaceAll(`<${name}>`, value)) as PolicyStatement;
}

/** One statement with its placeholders filled: none, one, or one per value of a list placeholder. */
function renderStatement(statement: PolicyStatement, values: PolicyPlaceholders): PolicyStatement[] {
  const names = placeholdersIn(statement);
  const unknown = names.filter((name) => !Object.hasOwn(values, name));
  if (unknown.length > 0)
    throw new Error(`policy statement ${statement.Sid}: no value for ${unknown.map((name) => `<${name}>`).join(', ')}`);
  const lists = names.filter((name) => Array.isArray(values[name]));
  if (lists.length > 1) throw new Error(`policy statement ${statement.Sid}: more than one list placeholder (${lists.join(', ')})`);
  if (names.some((name) => values[name] === undefined)) return [];
  let filled = statement;
  for (const name of names.filter((candidate) => !lists.includes(candidate))) filled = substitute(filled, name, values[name] as string);
  if (lists.length === 0) return [filled];
  const list = values[lists[0]] as readonly string[];
  return list.map((value, index) => ({
    ...substitute(filled, lists[0], value),
    Sid: list.length > 1 ? `${filled.Sid}${index + 1}` : filled.Sid,
  }));
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
