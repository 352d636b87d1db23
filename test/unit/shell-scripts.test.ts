import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every shell script shipped in an image passes shellcheck. */

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const IMAGES_DIR = join(REPO_ROOT, 'images');

const shellcheckAvailable = spawnSync('sh', ['-c', 'command -v shellcheck'], { encoding: 'utf8' }).status === 0;

function shellScriptsUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.sh'))
    .map((entry) => relative(REPO_ROOT, join(entry.parentPath, entry.name)))
    .sort();
}

function shellcheck(script: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('shellcheck', ['--external-sources', script], { cwd: REPO_ROOT });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const scripts = shellScriptsUnder(IMAGES_DIR);

describe('shell scripts under images/', () => {
  it('finds the scripts to check', () => {
    expect(scripts).toContain(join('images', 'github-runner', 'entrypoint.sh'));
    expect(scripts).toContain(join('images', 'circleci-runner', 'entrypoint.sh'));
    expect(scripts).toContain(join('images', 'gitlab-runner', 'entrypoint.sh'));
    // Sourced by the entrypoints; checked on its own too.
    expect(scripts).toContain(join('images', 'lib', 'runner-credential.sh'));
  });

  if (!shellcheckAvailable) {
    if (process.env.CI === 'true') {
      it('needs shellcheck on PATH (CI=true makes this a failure)', () => {
        throw new Error('shellcheck is not on PATH');
      });
    } else {
      console.warn('\n*** SKIPPED shellcheck of images/**/*.sh: shellcheck is not on PATH (apt-get install shellcheck) ***\n');
      it.skip.each(scripts)('%s passes shellcheck', () => {});
    }
    return;
  }

  it.each(scripts)('%s passes shellcheck', async (script) => {
    const { code, output } = await shellcheck(script);
    // Comparing objects puts shellcheck's findings in the failure message.
    expect({ code, output }).toEqual({ code: 0, output: '' });
  });
});
