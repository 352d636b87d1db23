import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The slice of OpenAPI 3.0 that the checks below read. */
interface Schema {
  $ref?: string;
  type?: string;
  nullable?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  oneOf?: Schema[];
  anyOf?: Schema[];
}

interface Operation {
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
}

interface OpenApiDocument {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, Record<string, unknown>>;
}

interface CompiledPath {
  template: string;
  /** Per segment: a literal, null for a whole-segment parameter, or a RegExp for one like `{base}...{head}`. */
  segments: (string | RegExp | null)[];
  operations: Record<string, Operation>;
}

interface OpenApiIndex {
  components: OpenApiDocument['components'];
  /** By segment count; within a count, paths with more literal segments first, so a literal beats a parameter. */
  pathsBySegmentCount: Map<number, CompiledPath[]>;
}

/** GitHub Enterprise Server's description: the app reaches GitHub through a GHE base URL. */
const SPEC_FILE = 'generated/ghes-3.19.json';

let index: OpenApiIndex | undefined;

/** Parses the description on first use only: it is ~11 MB, and a benchmark validates thousands of requests. */
function openApiIndex(): OpenApiIndex {
  index ??= buildIndex(readSpec());
  return index;
}

/** Pays the parse up front (~0.2 s), so it does not land on whichever request comes first. */
export function loadGitHubOpenApi(): void {
  openApiIndex();
}

function readSpec(): OpenApiDocument {
  const packageDir = dirname(createRequire(import.meta.url).resolve('@octokit/openapi/package.json'));
  const file = join(packageDir, SPEC_FILE);
  const document = JSON.parse(readFileSync(file, 'utf8')) as OpenApiDocument;
  // A new @octokit/openapi major could reshape the file; fail loudly rather than pass every request.
  if (!document.openapi?.startsWith('3.0.') || !document.servers?.[0]?.url.endsWith('/api/v3') || !document.paths) {
    throw new Error(`${file} is not the OpenAPI 3.0 GHES description this checker expects`);
  }
  return document;
}

function buildIndex(document: OpenApiDocument): OpenApiIndex {
  const pathsBySegmentCount = new Map<number, CompiledPath[]>();
  for (const [template, operations] of Object.entries(document.paths)) {
    const segments = template.split('/').slice(1).map(compileSegment);
    const sameLength = pathsBySegmentCount.get(segments.length) ?? [];
    sameLength.push({ template, segments, operations });
    pathsBySegmentCount.set(segments.length, sameLength);
  }
  const literalCount = (path: CompiledPath) => path.segments.filter((s) => typeof s === 'string').length;
  for (const paths of pathsBySegmentCount.values()) paths.sort((a, b) => literalCount(b) - literalCount(a));
  return { components: document.components, pathsBySegmentCount };
}

function compileSegment(segment: string): string | RegExp | null {
  if (!segment.includes('{')) return segment;
  if (/^\{[^}]+\}$/.test(segment)) return null;
  const parts = segment.split(/\{[^}]+\}/).map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.+')}$`);
}

function segmentMatches(pattern: string | RegExp | null, segment: string): boolean {
  if (pattern === null) return segment.length > 0;
  return typeof pattern === 'string' ? pattern === segment : pattern.test(segment);
}

/** Problems with a request to GitHub's REST API (path without `/api/v3`); empty when it fits the description. */
export function checkAgainstOpenApi(method: string, path: string, body: unknown): string[] {
  const { components, pathsBySegmentCount } = openApiIndex();
  const segments = path.split('/').slice(1);
  const candidates = (pathsBySegmentCount.get(segments.length) ?? []).filter((compiled) =>
    compiled.segments.every((pattern, i) => segmentMatches(pattern, segments[i])),
  );
  if (candidates.length === 0) return ['no path of the GitHub OpenAPI description matches'];
  const verb = method.toLowerCase();
  const match = candidates.find((compiled) => compiled.operations[verb]);
  if (!match) return [`no ${method.toUpperCase()} operation on ${candidates.map((c) => c.template).join(', ')}`];

  const requestBody = match.operations[verb].requestBody;
  const schemaRef = requestBody?.content?.['application/json']?.schema;
  const hasBody = body !== undefined && body !== null && body !== '';
  if (!schemaRef) {
    const isEmptyObject = isPlainObject(body) && Object.keys(body).length === 0;
    return hasBody && !isEmptyObject ? [`${match.template} takes no JSON request body`] : [];
  }
  if (!hasBody) return requestBody?.required ? ['request body is required'] : [];

  const schema = resolve(components, schemaRef);
  // Bodies that are one of several shapes, or not objects, are rare and none of this app's; leave them unchecked.
  if (schema.type !== 'object' && !schema.properties) return [];
  if (!isPlainObject(body)) return [`request body should be an object, got ${jsonType(body)}`];

  const problems: string[] = [];
  for (const name of schema.required ?? []) {
    if (!(name in body)) problems.push(`missing required property "${name}"`);
  }
  for (const [name, value] of Object.entries(body)) {
    const propertySchema = schema.properties?.[name];
    if (!propertySchema) {
      // OpenAPI allows extra fields by default, but GitHub's description hardly ever says so: a field it
      // does not document is a mistake on the caller's side.
      if (schema.properties && !schema.additionalProperties) problems.push(`unknown property "${name}"`);
      continue;
    }
    const allowed = allowedTypes(components, propertySchema);
    if (allowed && !allowed.some((type) => typeMatches(type, value))) {
      problems.push(`property "${name}" should be ${allowed.join(' or ')}, got ${jsonType(value)}`);
    }
  }
  return problems;
}

function resolve(components: OpenApiIndex['components'], schema: Schema): Schema {
  let resolved = schema;
  while (resolved.$ref) {
    const [, section, name] = /^#\/components\/([^/]+)\/(.+)$/.exec(resolved.$ref) ?? [];
    const target = section === undefined ? undefined : (components[section]?.[name] as Schema | undefined);
    if (!target) throw new Error(`unresolvable $ref ${resolved.$ref}`);
    resolved = target;
  }
  return resolved;
}

/** The JSON types a property may take, or undefined when its schema does not say (e.g. allOf). */
function allowedTypes(components: OpenApiIndex['components'], schemaOrRef: Schema): string[] | undefined {
  const schema = resolve(components, schemaOrRef);
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants) {
    const variantTypes = variants.map((variant) => allowedTypes(components, variant));
    return variantTypes.every((types) => types !== undefined) ? variantTypes.flat() : undefined;
  }
  if (!schema.type) return undefined;
  return schema.nullable ? [schema.type, 'null'] : [schema.type];
}

function typeMatches(type: string, value: unknown): boolean {
  const actual = jsonType(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
