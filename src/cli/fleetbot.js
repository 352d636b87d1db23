#!/usr/bin/env node
// `npx fleetbot` (package.json `bin`). The CLI is TypeScript, compiled to dist/ by `npm run build` (which
// `npm start` and `npm test` run too). A checkout fresh from `npm ci` has no dist/ yet: it is built once
// here, rather than in an npm `prepare` script, which would also run where no sources are (the image's
// dependency stages).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const compiled = new URL('../../dist/src/cli/main.js', import.meta.url);
if (!existsSync(compiled)) {
  process.stderr.write('fleetbot: no dist/ yet; building it once (npm run build)…\n');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const { runCommandLine } = await import(compiled.href);
await runCommandLine();
