import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * `npm run metrics:code`: the shape of the product code, measured with the TypeScript compiler's parser, so
 * that a reshaping is judged by numbers rather than by taste. Product code is src/ and cdktf/; tests and
 * benchmarks are not measured.
 */

const PRODUCT_ROOTS = ['src', 'cdktf'];
const LONG_FUNCTION_LINES = 50;
const LONG_LINE_CHARACTERS = 140;

/** Seams: folders that should hold an interface file (`types.ts`) beside their implementations. */
const SEAMS = ['src/ci', 'src/compute', 'src/store', 'src/secrets', 'src/terraform', 'src/issueops'];

/**
 * Which folders each folder may import. The wiring (src/index.ts, src/main.ts, src/assemble.ts, src/lambda.ts,
 * src/cli/) may import anything; `src` is the root's small shared modules (config, retry, log, aws).
 */
const ALLOWED_IMPORTS: Record<string, string[]> = {
  src: [],
  'src/store': ['src', 'src/fleets'],
  'src/fleets': ['src'],
  'src/secrets': ['src'],
  'src/terraform': ['src'],
  'src/compute': ['src', 'src/fleets', 'src/secrets', 'src/store'],
  'src/ci': ['src', 'src/fleets', 'src/secrets', 'src/store'],
  cdktf: ['src', 'src/fleets', 'src/terraform', 'cdktf/constructs'],
  // src/store: the control plane's table takes its keys from the DynamoDB store (STORE_TABLE_KEYS).
  'cdktf/constructs': ['src', 'src/fleets', 'src/store', 'src/terraform'],
  'src/jobs': ['src', 'src/ci', 'src/compute', 'src/fleets', 'src/secrets', 'src/store'],
  'src/issueops': ['src', 'src/fleets', 'src/store', 'src/terraform'],
  // The operator's read model: the store and the fleets, nothing it could act through but a drain; the wait histograms' bounds.
  'src/operator': ['src', 'src/fleets', 'src/metrics', 'src/store'],
  // The delivery queue knows deliveries (src/deliveries.ts) and SQS, not the CI systems whose deliveries it carries.
  'src/queue': ['src'],
  // Cost estimates price a fleet's capacity: they read fleet specs and runner records, nothing else.
  'src/cost': ['src', 'src/fleets', 'src/store'],
  // The metrics decorate what the job path is given (sink, compute, CI calls, store) and price released runners.
  'src/metrics': ['src', 'src/ci', 'src/compute', 'src/cost', 'src/fleets', 'src/store'],
  // The dashboard and JSON API show the operator's view (src/operator/types.ts) and nothing else of the app.
  'src/web': ['src', 'src/fleets', 'src/operator', 'src/store'],
};
// assemble.ts builds the app from its configuration for main.ts and lambda.ts: wiring too.
const WIRING = [/^src\/(index|main|lambda|assemble)\.ts$/, /^src\/cli\//];

const COMPUTE_TYPES = new Set(['ecs', 'ec2', 'asg']);

interface FunctionLength {
  name: string;
  where: string;
  lines: number;
}

function sourceFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder)) {
      const path = join(folder, entry);
      if (statSync(path).isDirectory()) {
        if (entry !== 'node_modules' && entry !== '__snapshots__') walk(path);
      } else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) {
        files.push(path);
      }
    }
  };
  try {
    walk(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return files;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
}

function lineOf(source: ts.SourceFile, position: number): number {
  return source.getLineAndCharacterOfPosition(position).line + 1;
}

function functionName(node: ts.Node): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isGetAccessor(node)) && node.name) {
    return node.name.getText();
  }
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText();
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  if (parent && ts.isPropertyDeclaration(parent)) return parent.name.getText();
  return '(anonymous)';
}

function isFunctionLike(node: ts.Node): boolean {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessor(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node)
  );
}

function functionLengths(source: ts.SourceFile): FunctionLength[] {
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node) => {
    if (isFunctionLike(node)) {
      const start = lineOf(source, node.getStart(source));
      const lines = lineOf(source, node.getEnd()) - start + 1;
      found.push({ name: functionName(node), where: `${source.fileName}:${start}`, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function folderOf(file: string): string {
  return dirname(file);
}

function upwardImports(source: ts.SourceFile): string[] {
  const file = source.fileName;
  if (WIRING.some((pattern) => pattern.test(file))) return [];
  const from = folderOf(file);
  const allowed = ALLOWED_IMPORTS[from];
  if (!allowed) return [`${file}: folder ${from} has no entry in ALLOWED_IMPORTS`];
  const problems: string[] = [];
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
    const specifier = statement.moduleSpecifier;
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
    const target = folderOf(relative('.', resolve(dirname(file), specifier.text)));
    if (target !== from && !allowed.includes(target)) problems.push(`${from} → ${target}`);
  }
  return problems;
}

/** `x.type === 'ecs'`, `case 'ec2':` and the like, outside src/compute/ where each type has its backend. */
function branchesOnComputeType(source: ts.SourceFile): boolean {
  let branches = false;
  const isComputeLiteral = (node: ts.Node) => ts.isStringLiteral(node) && COMPUTE_TYPES.has(node.text);
  const visit = (node: ts.Node) => {
    if (ts.isBinaryExpression(node)) {
      const operator = node.operatorToken.kind;
      const comparison = operator === ts.SyntaxKind.EqualsEqualsEqualsToken || operator === ts.SyntaxKind.ExclamationEqualsEqualsToken;
      if (comparison && (isComputeLiteral(node.left) || isComputeLiteral(node.right))) branches = true;
    }
    if (ts.isCaseClause(node) && isComputeLiteral(node.expression)) branches = true;
    ts.forEachChild(node, visit);
  };
  visit(source);
  return branches;
}

/** Places that turn zod issues into text: a `.issues.map(` call. */
function zodIssueFormatters(source: ts.SourceFile): number {
  let count = 0;
  const visit = (node: ts.Node) => {
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === 'map' &&
      ts.isPropertyAccessExpression(node.expression.expression) &&
      node.expression.expression.name.text === 'issues'
    ) {
      count += 1;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return count;
}

function readsProcessEnv(source: ts.SourceFile): boolean {
  if (source.fileName === 'src/config.ts' || WIRING.some((pattern) => pattern.test(source.fileName))) return false;
  let reads = false;
  const visit = (node: ts.Node) => {
    if (ts.isPropertyAccessExpression(node) && node.getText(source) === 'process.env') reads = true;
    ts.forEachChild(node, visit);
  };
  visit(source);
  return reads;
}

function main(): void {
  const product = PRODUCT_ROOTS.flatMap(sourceFiles).map(parse);
  const functions = product.flatMap(functionLengths).sort((a, b) => b.lines - a.lines);
  const longFunctions = functions.filter((entry) => entry.lines > LONG_FUNCTION_LINES);
  const files = product
    .map((source) => ({ file: source.fileName, lines: source.getLineStarts().length }))
    .sort((a, b) => b.lines - a.lines);
  const upward = [...new Set(product.flatMap(upwardImports))].sort();
  const seamsWithInterface = SEAMS.filter((seam) => {
    try {
      return statSync(join(seam, 'types.ts')).isFile();
    } catch {
      return false;
    }
  });
  const computeBranching = product
    .filter((source) => !source.fileName.startsWith('src/compute/') && branchesOnComputeType(source))
    .map((source) => source.fileName);
  const zodFormatters = product.reduce((sum, source) => sum + zodIssueFormatters(source), 0);
  const envReaders = product.filter(readsProcessEnv).map((source) => source.fileName);
  const longLines = product.reduce(
    (sum, source) => sum + source.text.split('\n').filter((line) => line.length > LONG_LINE_CHARACTERS).length,
    0,
  );

  const rows: [string, string, string][] = [
    ['longest function', `${functions[0].name}, ${functions[0].lines} lines (${functions[0].where})`, `≤ 60 lines`],
    [`functions over ${LONG_FUNCTION_LINES} lines`, String(longFunctions.length), '≤ 3'],
    ['largest source file', `${files[0].file}, ${files[0].lines} lines`, '≤ 450 lines'],
    ['imports that run back up the layers', `${upward.length}${upward.length ? ` (${upward.join(', ')})` : ''}`, '0'],
    ['seams with an interface file', `${seamsWithInterface.length} of ${SEAMS.length}`, `${SEAMS.length} of ${SEAMS.length}`],
    ['files that branch on the compute type (outside src/compute/)', String(computeBranching.length), '1 module per compute type'],
    ['copies of the zod-error formatting', String(zodFormatters), '1'],
    ['process.env reads outside config and wiring', `${envReaders.length}${envReaders.length ? ` (${envReaders.join(', ')})` : ''}`, '0'],
    [`lines over ${LONG_LINE_CHARACTERS} characters`, String(longLines), '0'],
  ];
  console.log('| measure | now | target |\n|---|---|---|');
  for (const [measure, now, target] of rows) console.log(`| ${measure} | ${now} | ${target} |`);
  console.log(`\nfunctions over ${LONG_FUNCTION_LINES} lines:`);
  for (const entry of longFunctions) console.log(`  ${entry.lines} ${entry.name} (${entry.where})`);
  console.log('\nlargest files:');
  for (const entry of files.slice(0, 5)) console.log(`  ${entry.lines} ${entry.file}`);
  if (computeBranching.length) console.log(`\nbranching on the compute type: ${computeBranching.join(', ')}`);
}

main();
