/**
 * `npm run sandbox [-- --keep]`: fleetbot end to end on this machine, no AWS account and no GitHub needed
 * (see sandbox.ts). This entry checks what the sandbox needs before loading it, so a missing emulator or
 * build ends with a sentence saying what to do rather than a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE = `usage: npm run sandbox [-- --keep]
  --keep   after the demo, stay up for your own webhooks (prints a curl command); Ctrl-C stops everything`;

// Built, this file is dist/sandbox/run.js: the repository is two levels up.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function fail(message: string): never {
  console.error(`sandbox: ${message}`);
  process.exit(1);
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = args.find((arg) => arg !== '--keep');
if (unknown) fail(`unknown argument ${unknown}\n${USAGE}`);

if (spawnSync('sh', ['-c', 'command -v moto_server'], { stdio: 'ignore' }).status !== 0) {
  fail('moto_server is not on PATH. It stands in for AWS: install it with `pip install "moto[server]"`, then run again.');
}
const missing = ['dist/src/main.js', 'dist/sandbox/sandbox.js', 'dist/test/helpers/fake-github.js'].filter(
  (file) => !existsSync(join(root, file)),
);
if (missing.length > 0) {
  fail(`the build is missing (no ${missing.join(', ')} in ${root}): run \`npm run build\` first (\`npm run sandbox\` does).`);
}

// The sandbox's own AWS clients (which read moto back for the narration) would repeat the SDK's Node version
// notice on the terminal; the app's log still carries it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { runSandbox } = await import('./sandbox.js');
// Exit explicitly: keep-alive sockets to the stopped servers must not hold the process open.
process.exit(await runSandbox({ root, keep: args.includes('--keep') }));
