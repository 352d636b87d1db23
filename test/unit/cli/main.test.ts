import { CommandError, EXIT, UsageError, type Command } from '../../../src/cli/command.js';
import { commands, main } from '../../../src/cli/main.js';
import { captureContext } from './cli-context.js';

function fakeCommand(run: Command['run']): Command {
  return { summary: 'does a thing', usage: 'Usage: fleetbot thing [--flag]', run };
}

/** A command that records the arguments of each run. */
function recordingCommand(): { command: Command; runs: string[][] } {
  const runs: string[][] = [];
  return { command: fakeCommand(async (args) => (runs.push(args), EXIT.ok)), runs };
}

describe('fleetbot', () => {
  it('lists every command of the table with --help', async () => {
    const context = captureContext('/tmp');
    expect(await main(['--help'], context)).toBe(EXIT.ok);
    expect(context.stdout()).toMatch(/^Usage: fleetbot <command>/);
    for (const [name, command] of Object.entries(commands)) {
      const line = context
        .stdout()
        .split('\n')
        .find((text) => text.startsWith(`  ${name} `));
      expect(line?.trimEnd().endsWith(`  ${command.summary}`)).toBe(true);
    }
    expect(context.stdout()).toContain('synth');
  });

  it('answers `help` and `-h` like --help', async () => {
    for (const argv of [['help'], ['-h']]) {
      const context = captureContext('/tmp');
      expect(await main(argv, context)).toBe(EXIT.ok);
      expect(context.stdout()).toContain('Commands:');
    }
  });

  it('exits 2 with the command list on stderr when no command is given', async () => {
    const context = captureContext('/tmp');
    expect(await main([], context)).toBe(EXIT.usage);
    expect(context.stderr()).toContain('Commands:');
    expect(context.stdout()).toBe('');
  });

  it('exits 2 naming an unknown command or option', async () => {
    const unknownCommand = captureContext('/tmp');
    expect(await main(['deploy'], unknownCommand)).toBe(EXIT.usage);
    expect(unknownCommand.stderr()).toMatch(/^fleetbot: unknown command "deploy"/);

    const unknownOption = captureContext('/tmp');
    expect(await main(['--verbose', 'synth'], unknownOption)).toBe(EXIT.usage);
    expect(unknownOption.stderr()).toContain("Unknown option '--verbose'");
  });

  it("prints a command's usage for `<command> --help` and `help <command>`, without running it", async () => {
    const { command, runs } = recordingCommand();
    const table = { thing: command };
    for (const argv of [
      ['thing', '--help'],
      ['thing', 'x', '-h'],
      ['help', 'thing'],
      ['-h', 'thing'],
    ]) {
      const context = captureContext('/tmp');
      expect(await main(argv, context, table)).toBe(EXIT.ok);
      expect(context.stdout()).toBe('Usage: fleetbot thing [--flag]');
    }
    expect(runs).toEqual([]);
  });

  it('exits 2 for help on an unknown command', async () => {
    const context = captureContext('/tmp');
    expect(await main(['help', 'deploy'], context)).toBe(EXIT.usage);
    expect(context.stderr()).toMatch(/^fleetbot: unknown command "deploy"/);
  });

  it('passes a --help after -- to the command as an argument', async () => {
    const { command, runs } = recordingCommand();
    expect(await main(['thing', '--', '--help'], captureContext('/tmp'), { thing: command })).toBe(EXIT.ok);
    expect(runs).toEqual([['--', '--help']]);
  });

  it("returns the command's exit code", async () => {
    const table = { thing: fakeCommand(async (args) => (args[0] === 'fine' ? EXIT.ok : 7)) };
    expect(await main(['thing', 'fine'], captureContext('/tmp'), table)).toBe(EXIT.ok);
    expect(await main(['thing', 'odd'], captureContext('/tmp'), table)).toBe(7);
  });

  it('reports a usage error with the usage, a command error as its message alone, and anything else as 1', async () => {
    const usage = captureContext('/tmp');
    const misused = { thing: fakeCommand(async () => Promise.reject(new UsageError('expected a fleet name'))) };
    expect(await main(['thing'], usage, misused)).toBe(EXIT.usage);
    expect(usage.stderr()).toBe('fleetbot thing: expected a fleet name\n\nUsage: fleetbot thing [--flag]');

    const failed = captureContext('/tmp');
    const refusing = { thing: fakeCommand(async () => Promise.reject(new CommandError('no such thing', EXIT.failed))) };
    expect(await main(['thing'], failed, refusing)).toBe(EXIT.failed);
    expect(failed.stderr()).toBe('fleetbot thing: no such thing');

    const crashed = captureContext('/tmp');
    const broken = { thing: fakeCommand(async () => Promise.reject(new TypeError('x is undefined'))) };
    expect(await main(['thing'], crashed, broken)).toBe(EXIT.failed);
    expect(crashed.stderr()).toMatch(/^fleetbot thing: TypeError: x is undefined/);
  });
});
