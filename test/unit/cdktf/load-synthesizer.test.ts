import { synthesizeFleet } from '../../../cdktf/synth.js';
import { loadSynthesizer } from '../../../cdktf/load-synthesizer.js';

/** Node's error for an import whose package is not installed. */
function moduleNotFound(specifier: string): Error {
  return Object.assign(new Error(`Cannot find package '${specifier}' imported from /app/dist/cdktf/synth.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

describe('loadSynthesizer', () => {
  it('loads cdktf/synth.ts when CDKTF is installed', async () => {
    expect(await loadSynthesizer()).toBe(synthesizeFleet);
  });

  it('names the packages to install, and the image build argument, when CDKTF is missing', async () => {
    const failure = loadSynthesizer(() => Promise.reject(moduleNotFound('cdktf')));
    await expect(failure).rejects.toThrow(/IssueOps is configured .* but CDKTF is not installed: Cannot find package 'cdktf'/);
    await expect(failure).rejects.toThrow(/cdktf, @cdktf\/provider-aws, constructs/);
    await expect(failure).rejects.toThrow(/--build-arg ISSUEOPS=true/);
  });

  it('says the same when a package cdktf requires is missing', async () => {
    const missing = Object.assign(new Error("Cannot find module 'constructs'"), { code: 'MODULE_NOT_FOUND' });
    await expect(loadSynthesizer(() => Promise.reject(missing))).rejects.toThrow(/CDKTF is not installed: Cannot find module 'constructs'/);
  });

  it('lets any other failure through as it is', async () => {
    const broken = new SyntaxError('Unexpected token');
    await expect(loadSynthesizer(() => Promise.reject(broken))).rejects.toBe(broken);
  });
});
