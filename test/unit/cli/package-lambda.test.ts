import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EXIT } from '../../../src/cli/command.js';
import { main } from '../../../src/cli/main.js';
import { zip } from '../../../src/cli/zip.js';
import { LAMBDA_HANDLERS } from '../../../cdktf/constructs/control-plane-functions.js';
import { captureContext } from './cli-context.js';

/** What Python's zipfile (an independent reader) finds in a zip: each entry's name, permission bits and text. */
function readZip(path: string): { name: string; mode: number; text: string }[] {
  const script = [
    'import json, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'assert z.testzip() is None',
    'print(json.dumps([{"name": i.filename, "mode": (i.external_attr >> 16) & 0o777, "text": z.read(i).decode()} for i in z.infolist()]))',
  ].join('\n');
  const result = spawnSync('python3', ['-c', script, path], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as { name: string; mode: number; text: string }[];
}

function write(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

/** A built entry point with the three handlers the control-plane stack names. */
const HANDLERS = 'export function webhooks() {}\nexport function worker() {}\nexport function tick() {}\n';

describe('fleetbot package-lambda', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'fleetbot-package-lambda-'));
    write(root, 'package.json', '{"name":"fleetbot","type":"module"}');
    write(root, 'app.yml', 'name: fleetbot\n');
    write(root, 'dist/src/lambda.js', HANDLERS);
    write(root, 'dist/src/lambda.js.map', '{}');
    write(root, 'dist/src/lambda.d.ts', 'export {};');
    write(root, 'deps/node_modules/pino/index.js', 'module.exports = {};\n');
    write(root, 'deps/node_modules/pino/cli.js', '#!/usr/bin/env node\n');
    chmodSync(join(root, 'deps/node_modules/pino/cli.js'), 0o755);
    mkdirSync(join(root, 'deps/node_modules/.bin'));
    symlinkSync('../pino/cli.js', join(root, 'deps/node_modules/.bin/pino'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('zips the compiled app, package.json, app.yml and the production node_modules, and prints the hash Terraform computes', async () => {
    const context = captureContext(root);
    expect(await main(['package-lambda', '--node-modules', 'deps/node_modules'], context)).toBe(EXIT.ok);
    const archive = join(root, 'dist', 'fleetbot-lambda.zip');
    expect(readZip(archive)).toEqual([
      { name: 'app.yml', mode: 0o644, text: 'name: fleetbot\n' },
      { name: 'dist/src/lambda.js', mode: 0o644, text: HANDLERS },
      { name: 'node_modules/pino/cli.js', mode: 0o755, text: '#!/usr/bin/env node\n' },
      { name: 'node_modules/pino/index.js', mode: 0o644, text: 'module.exports = {};\n' },
      { name: 'package.json', mode: 0o644, text: '{"name":"fleetbot","type":"module"}' },
    ]);
    const sha = createHash('sha256').update(readFileSync(archive)).digest('base64');
    expect(context.stdout()).toMatch(/^Wrote dist\/fleetbot-lambda\.zip: 5 files, /);
    expect(context.stdout()).toContain(`SHA-256 (base64): ${sha}`);
  });

  it('writes the same bytes for the same files, whatever their timestamps', async () => {
    await main(['package-lambda', '--node-modules', 'deps/node_modules', '--out', 'one.zip'], captureContext(root));
    write(root, 'dist/src/lambda.js', HANDLERS);
    await main(['package-lambda', '--node-modules', 'deps/node_modules', '--out', 'two.zip'], captureContext(root));
    expect(readFileSync(join(root, 'one.zip')).equals(readFileSync(join(root, 'two.zip')))).toBe(true);
  });

  it('refuses a build that lacks a handler the control-plane stack names', async () => {
    write(root, 'dist/src/lambda.js', 'export function webhooks() {}\nexport const worker = 1;\n');
    const context = captureContext(root);
    expect(await main(['package-lambda', '--node-modules', 'deps/node_modules'], context)).toBe(EXIT.failed);
    expect(context.stderr()).toContain(
      'dist/src/lambda.js exports no function for dist/src/lambda.worker, dist/src/lambda.tick, which the control-plane stack names: rebuild',
    );
  });

  it('zips the cdktf/ files the app imports, and refuses a build whose code imports a file the zip would lack', async () => {
    write(
      root,
      'dist/src/assemble.js',
      "import { loadSynthesizer } from '../cdktf/load-synthesizer.js';\nexport const x = () => import('./later.js');\n",
    );
    write(root, 'dist/src/later.js', 'export {};\n');
    write(root, 'dist/cdktf/load-synthesizer.js', 'export function loadSynthesizer() {}\n');
    const context = captureContext(root);
    expect(await main(['package-lambda', '--node-modules', 'deps/node_modules'], context)).toBe(EXIT.ok);
    expect(readZip(join(root, 'dist', 'fleetbot-lambda.zip')).map((entry) => entry.name)).toEqual(
      expect.arrayContaining(['dist/cdktf/load-synthesizer.js', 'dist/src/assemble.js', 'dist/src/later.js']),
    );
    rmSync(join(root, 'dist', 'cdktf'), { recursive: true });
    rmSync(join(root, 'dist', 'src', 'later.js'));
    const refused = captureContext(root);
    expect(await main(['package-lambda', '--node-modules', 'deps/node_modules'], refused)).toBe(EXIT.failed);
    expect(refused.stderr()).toContain(
      'the zip would lack files its code imports:\n  dist/src/assemble.js imports ../cdktf/load-synthesizer.js\n  dist/src/assemble.js imports ./later.js',
    );
  });

  it('finds every handler the stack names in the app: src/lambda.ts exports each as a function', async () => {
    const lambda = (await import('../../../src/lambda.js')) as Record<string, unknown>;
    const handlers = Object.values(LAMBDA_HANDLERS).map((handler) => handler.replace('dist/src/lambda.', ''));
    expect(handlers).toEqual(['webhooks', 'worker', 'tick']);
    for (const handler of handlers) expect(typeof lambda[handler]).toBe('function');
  });

  it('refuses to package before the build, or without the production install', async () => {
    const noInstall = captureContext(root);
    expect(await main(['package-lambda', '--node-modules', 'nowhere'], noInstall)).toBe(EXIT.failed);
    expect(noInstall.stderr()).toContain('no nowhere: install the production dependencies there first');
    rmSync(join(root, 'dist'), { recursive: true });
    const noBuild = captureContext(root);
    expect(await main(['package-lambda', '--node-modules', 'deps/node_modules'], noBuild)).toBe(EXIT.failed);
    expect(noBuild.stderr()).toContain('no dist/src/lambda.js: run npm run build from the repository root first');
    const noFlag = captureContext(root);
    expect(await main(['package-lambda'], noFlag)).toBe(EXIT.usage);
    expect(noFlag.stderr()).toContain('--node-modules is required');
  });
});

describe('zip', () => {
  it('reads back byte for byte, empty files and non-ASCII names included, and deflates what compresses', () => {
    const root = mkdtempSync(join(tmpdir(), 'fleetbot-zip-'));
    try {
      const entries = [
        { path: 'empty.txt', data: Buffer.alloc(0), mode: 0o644 },
        { path: 'long.txt', data: Buffer.from('fleetbot '.repeat(10_000)), mode: 0o600 },
        { path: 'é.txt', data: Buffer.from('x'), mode: 0o644 },
      ];
      writeFileSync(join(root, 'test.zip'), zip(entries));
      expect(readZip(join(root, 'test.zip'))).toEqual(
        entries.map((entry) => ({ name: entry.path, mode: entry.mode, text: entry.data.toString() })),
      );
      expect(zip(entries).length).toBeLessThan(2_000);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
