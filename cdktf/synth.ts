import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'cdktf';
import type { FleetSpec } from '../src/fleets/spec.js';
import type { SynthSettings } from '../src/terraform/settings.js';
import { packageRoot } from '../src/package-root.js';
import { FleetStack } from './fleet-stack.js';

const USER_DATA_SCRIPT = join('images', 'ec2', 'runner-user-data.sh');

// Read at synth time from the repository (dist/cdktf/synth.js when built, cdktf/synth.ts under tests).
function runnerUserData(): string {
  const path = join(packageRoot(), USER_DATA_SCRIPT);
  if (!existsSync(path)) throw new Error(`the EC2 runner boot script is missing: ${path}`);
  return readFileSync(path, 'utf8');
}

/**
 * The fleet's Terraform JSON (cdk.tf.json), deterministic: same spec + settings → byte-identical text.
 * Throws if spec.provision is missing.
 */
export function synthesizeFleet(spec: FleetSpec, settings: SynthSettings): string {
  const provision = spec.provision;
  if (!provision) throw new Error(`fleet ${spec.name} has no provision section: there is nothing for Terraform to build`);
  const outdir = mkdtempSync(join(tmpdir(), 'fleetbot-synth-'));
  try {
    // No stack traces in construct metadata: slow, and unused. SYNTH_HCL_OUTPUT in the environment
    // overrides hclOutput, hence the check on the file written below.
    const app = new App({ outdir, stackTraces: false, hclOutput: false });
    const stack = new FleetStack(app, `fleetbot-${spec.name}`, {
      spec,
      provision,
      backend: settings.backend,
      provider: settings.provider,
      ec2UserData: runnerUserData,
    });
    app.synth();
    const synthesized = join(outdir, app.manifest.forStack(stack).synthesizedStackPath);
    if (!synthesized.endsWith('.json')) throw new Error('cdktf wrote HCL (SYNTH_HCL_OUTPUT=true?); fleetbot runs Terraform JSON');
    return readFileSync(synthesized, 'utf8');
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
