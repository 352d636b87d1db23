/**
 * The packages cdktf/synth.ts loads. They are optionalDependencies: the job path never needs them (they
 * are most of node_modules), so a job-path install (`npm ci --omit=dev --omit=optional`) leaves them out.
 */
export const CDKTF_PACKAGES = ['cdktf', '@cdktf/provider-aws', 'constructs'] as const;

type SynthModule = Pick<typeof import('./synth.js'), 'synthesizeFleet'>;
type SynthesizeFleet = SynthModule['synthesizeFleet'];

/**
 * Loads the fleet synthesizer when IssueOps is configured, and only then: this file imports no CDKTF
 * package itself, so the wiring may import it on the job path. A missing package is
 * reported as what to install, at start, rather than as a crash on the first fleet request.
 */
export async function loadSynthesizer(load: () => Promise<SynthModule> = () => import('./synth.js')): Promise<SynthesizeFleet> {
  try {
    return (await load()).synthesizeFleet;
  } catch (error) {
    if (!isMissingPackage(error)) throw error;
    throw new Error(
      `IssueOps is configured (the fleets file has an \`issueops\` section) but CDKTF is not installed: ${(error as Error).message}. ` +
        `Install the optional dependencies ${CDKTF_PACKAGES.join(', ')} (\`npm ci --omit=dev\`, without \`--omit=optional\`), ` +
        'or build the image with `--build-arg ISSUEOPS=true`; or remove the `issueops` section to serve the fleets file only.',
    );
  }
}

/** ESM imports fail with ERR_MODULE_NOT_FOUND; cdktf's own (CommonJS) requires with MODULE_NOT_FOUND. */
export function isMissingPackage(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}
