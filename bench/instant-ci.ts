import type { CiSource, RunnerCredential } from '../src/ci/types.js';

/** The CI system's side, answered at once: the benchmarks measure fleetbot, not GitHub. */
export class InstantCi implements CiSource {
  readonly ci = 'github';
  credentialLane(): string {
    return 'bench';
  }
  async isJobQueued(): Promise<boolean> {
    return true;
  }
  async createRunnerCredential(): Promise<RunnerCredential> {
    return { value: 'jit-config' };
  }
}
