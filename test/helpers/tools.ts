import { spawnSync } from 'node:child_process';
import { describeWithMoto } from './moto.js';

function missing(tools: readonly string[]): string[] {
  return tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status !== 0);
}

/**
 * Like describeWithMoto, and the same for the command-line tools a script under test calls: skipped
 * loudly where one is missing, a failure under CI.
 */
export function describeWithMotoAndTools(name: string, tools: readonly string[], body: () => void): void {
  const absent = missing(tools);
  if (absent.length === 0) {
    describeWithMoto(name, body);
    return;
  }
  const list = absent.join(', ');
  if (process.env.CI === 'true') {
    describe(name, () => {
      it(`needs ${list} on PATH (CI=true makes this a failure)`, () => {
        throw new Error(`not on PATH: ${list}`);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPED "${name}": not on PATH: ${list} ***\n`);
  describe.skip(name, body);
}
