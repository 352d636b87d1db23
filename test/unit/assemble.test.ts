import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleFleetbot } from '../../src/assemble.js';
import { ConfigError, readConfig } from '../../src/config.js';

describe('assembling the app from its configuration', () => {
  it('refuses a fleets file with an issueops section where terraform cannot run (Lambda), before it opens the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetbot-'));
    writeFileSync(join(dir, 'fleetbot.yml'), 'fleets: []\nissueops:\n  repository: acme/runner-fleets\n');
    const config = readConfig({ FLEETBOT_CONFIG: join(dir, 'fleetbot.yml'), FLEETBOT_DB: join(dir, 'data', 'fleetbot.db') });

    const assembled = assembleFleetbot(config, { periodicWork: false, terraform: false });

    await expect(assembled).rejects.toThrow(ConfigError);
    await expect(assembled).rejects.toThrow(/has an issueops section, but IssueOps runs terraform, which does not run here \(Lambda\)/);
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });
});
