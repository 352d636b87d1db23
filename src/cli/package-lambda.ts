import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CommandError, EXIT, parseCommandArgs, UsageError, type CliContext, type Command } from './command.js';
import { zip, type ZipEntry } from './zip.js';

/** The compiled Lambda entry point whose exports the control-plane stack names as handlers. */
const HANDLER_MODULE = join('dist', 'src', 'lambda.js');
const DEFAULT_OUT = join('dist', 'fleetbot-lambda.zip');
// Lambda's limit on a function's unzipped code.
const UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024;

const usage = `Usage: fleetbot package-lambda --node-modules <dir> [--out <zip>]

Writes the Lambda zip the control-plane stack deploys (fleetbot synth-control-plane, lambdaZip): the
compiled app (dist/src and dist/cdktf, from npm run build), package.json and app.yml, and a production
node_modules.
Run it from the repository root. The zip is reproducible: the same files give the same bytes, so
Terraform leaves the functions alone when nothing changed. npm run package:lambda does it all.

Options:
  --node-modules <dir>  a production install for Linux x86_64 (npm ci --omit=dev --omit=optional) (required)
  --out <zip>           where to write it (default: ${DEFAULT_OUT})
  -h, --help            show this help

Exit codes: 0 written; 1 the build or the install is missing, a handler or an imported file is missing,
or the package is too large; 2 bad arguments.`;

const options = { 'node-modules': { type: 'string' }, out: { type: 'string' } } as const;

/** Every file under `dir` as a zip entry at `prefix/<relative path>`, skipping what `keep` refuses. Symlinks are not followed. */
async function filesUnder(dir: string, prefix: string, keep: (path: string) => boolean): Promise<ZipEntry[]> {
  const entries: ZipEntry[] = [];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const archived = `${prefix}/${name}`;
    if (!keep(archived)) continue;
    const stats = await lstat(path);
    if (stats.isDirectory()) entries.push(...(await filesUnder(path, archived, keep)));
    else if (stats.isFile()) entries.push({ path: archived, data: await readFile(path), mode: stats.mode });
  }
  return entries;
}

// Source maps and type declarations are not run; .bin holds symlinks to scripts nobody calls in Lambda.
const compiled = (path: string) => !path.endsWith('.map') && !path.endsWith('.d.ts');
const installed = (path: string) => !path.endsWith('/.bin') && !path.endsWith('/.package-lock.json');

async function packageEntries(root: string, nodeModules: string): Promise<ZipEntry[]> {
  const top = await Promise.all(
    ['package.json', 'app.yml'].map(async (file) => ({ path: file, data: await readFile(join(root, file)), mode: 0o644 })),
  );
  return [
    ...top,
    ...(await filesUnder(join(root, 'dist', 'src'), 'dist/src', compiled)),
    // The app imports a few cdktf/ files too (assemble.ts: the fleet synthesizer's loader, which loads no CDKTF package).
    ...(existsSync(join(root, 'dist', 'cdktf')) ? await filesUnder(join(root, 'dist', 'cdktf'), 'dist/cdktf', compiled) : []),
    ...(await filesUnder(nodeModules, 'node_modules', installed)),
  ];
}

const RELATIVE_IMPORT = /(?:\bfrom|\bimport\(?)\s*['"](\.{1,2}\/[^'"]+)['"]/g;

/** Relative imports of the zipped code that name no file of the zip: the function would fail to load them. */
function unresolvedImports(entries: readonly ZipEntry[]): string[] {
  const paths = new Set(entries.map((entry) => entry.path));
  return entries
    .filter((entry) => entry.path.startsWith('dist/') && entry.path.endsWith('.js'))
    .flatMap((entry) =>
      [...entry.data.toString('utf8').matchAll(RELATIVE_IMPORT)]
        .map((match) => match[1]!)
        .filter((specifier) => !paths.has(posix.join(posix.dirname(entry.path), specifier)))
        .map((specifier) => `${entry.path} imports ${specifier}`),
    );
}

export const packageLambdaCommand: Command = {
  summary: 'Write the Lambda zip of the built app, for the control-plane stack',
  usage,
  async run(args: string[], context: CliContext): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, options);
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals.join(' ')}`);
    if (values['node-modules'] === undefined) throw new UsageError('--node-modules is required');
    const root = context.cwd;
    const nodeModules = resolve(root, values['node-modules']);
    if (!existsSync(join(root, HANDLER_MODULE))) {
      throw new CommandError(`no ${HANDLER_MODULE}: run npm run build from the repository root first`);
    }
    if (!existsSync(nodeModules)) throw new CommandError(`no ${values['node-modules']}: install the production dependencies there first`);
    const entries = await packageEntries(root, nodeModules);
    const unresolved = unresolvedImports(entries);
    if (unresolved.length > 0) throw new CommandError(`the zip would lack files its code imports:\n  ${unresolved.join('\n  ')}`);
    // Imported only once every file it imports is known to be there.
    const missing = await missingHandlers(root);
    if (missing.length > 0) {
      throw new CommandError(
        `${HANDLER_MODULE} exports no function for ${missing.join(', ')}, which the control-plane stack names: rebuild`,
      );
    }
    const unzipped = entries.reduce((total, entry) => total + entry.data.length, 0);
    if (unzipped > UNZIPPED_LIMIT_BYTES) {
      throw new CommandError(`the package holds ${mebibytes(unzipped)} unzipped; Lambda takes at most ${mebibytes(UNZIPPED_LIMIT_BYTES)}`);
    }
    const archive = zip(entries);
    const out = resolve(root, values.out ?? DEFAULT_OUT);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, archive);
    const shown = relative(root, out).startsWith(`..${sep}`) ? out : relative(root, out);
    context.out(
      [
        `Wrote ${shown}: ${entries.length} files, ${mebibytes(archive.length)} (${mebibytes(unzipped)} unzipped)`,
        // What Terraform's filebase64sha256 gives, and Lambda reports as CodeSha256.
        `SHA-256 (base64): ${createHash('sha256').update(archive).digest('base64')}`,
      ].join('\n'),
    );
    return EXIT.ok;
  },
};

/**
 * The handlers the control-plane stack names (`dist/src/lambda.tick`) that the built module does not export
 * as functions: a zip without one deploys a function that fails at every invocation.
 */
async function missingHandlers(root: string): Promise<string[]> {
  // Loaded here: the CLI's other commands do not pay for CDKTF's constructs.
  const { LAMBDA_HANDLERS } = await import('../../cdktf/constructs/control-plane-functions.js');
  const built = (await import(pathToFileURL(join(root, HANDLER_MODULE)).href)) as Record<string, unknown>;
  return Object.values(LAMBDA_HANDLERS).filter((handler) => typeof built[handler.slice(handler.lastIndexOf('.') + 1)] !== 'function');
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
