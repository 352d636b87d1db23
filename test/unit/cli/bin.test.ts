import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { EXIT } from '../../../src/cli/command.js';
import { packageRoot } from '../../../src/package-root.js';

/** The `fleetbot` bin as npx runs it: the launcher hands the command line to the built CLI, exit code included. */
describe('the fleetbot bin', () => {
  const bin = join(packageRoot(), 'src/cli/fleetbot.js');

  it('runs the built CLI with its arguments and passes its exit code on', () => {
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(EXIT.ok);
    expect(help.stdout).toContain('Usage: fleetbot <command>');

    const unknown = spawnSync(process.execPath, [bin, 'no-such-command'], { encoding: 'utf8' });
    expect(unknown.status).toBe(EXIT.usage);
    expect(unknown.stderr).toContain('unknown command "no-such-command"');
  });
});
