import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium, which `.ci/run` installs when it is missing; playwright-core downloads no browser. */
export const CHROMIUM = process.env.FLEETBOT_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Like describeWithMoto: skipped loudly without chromium, except under CI, where that is a failure. */
export function describeWithChromium(name: string, body: () => void): void {
  if (existsSync(CHROMIUM)) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it(`needs chromium at ${CHROMIUM} (CI=true makes this a failure)`, () => {
        throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPED "${name}": ${CHROMIUM} is missing (apt-get install chromium) ***\n`);
  describe.skip(name, body);
}

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI containers run as root, where chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}
