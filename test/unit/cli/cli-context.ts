import type { CliContext } from '../../../src/cli/command.js';

export interface CapturedContext extends CliContext {
  stdout(): string;
  stderr(): string;
}

/** A CliContext whose output is kept for assertions; no variable from the test's own environment leaks in. */
export function captureContext(cwd: string, env: NodeJS.ProcessEnv = {}): CapturedContext {
  const out: string[] = [];
  const err: string[] = [];
  return {
    env,
    cwd,
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    stdout: () => out.join('\n'),
    stderr: () => err.join('\n'),
  };
}
