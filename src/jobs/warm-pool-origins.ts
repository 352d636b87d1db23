import type { Logger } from 'probot';
import type { CiCalls } from '../ci/router.js';
import { errorFields } from '../errors.js';
import type { FleetSpec } from '../fleets/spec.js';
import type { JobOrigin, NewJob } from '../store/types.js';

/** Where each fleet's warm pool registers (looked up once per fleet and owner), and which jobs its runners can take. */
export class WarmPoolOrigins {
  private readonly origins = new Map<string, Promise<JobOrigin>>();

  constructor(
    private readonly ci: CiCalls,
    private readonly log: Logger,
  ) {}

  /** The origin the fleet's warm runners register under; a failed look-up is asked again next time. */
  of(fleet: FleetSpec): Promise<JobOrigin> {
    const key = `${fleet.name}/${fleet.warmRunners?.owner}`;
    let origin = this.origins.get(key);
    if (!origin) {
      if (!this.ci.warmPoolOrigin) return Promise.reject(new Error(`${fleet.ci} fleets have no warm pools`));
      origin = this.ci.warmPoolOrigin(fleet);
      origin.catch(() => this.origins.delete(key));
      this.origins.set(key, origin);
    }
    return origin;
  }

  /** A warm runner can take the job only where it registered: the same organisation or repository. */
  async serves(fleet: FleetSpec, job: NewJob): Promise<boolean> {
    if (!fleet.warmRunners || !this.ci.runnerScope) return false;
    try {
      const origin = await this.of(fleet);
      return this.ci.runnerScope({ ci: fleet.ci, origin }) === this.ci.runnerScope(job);
    } catch (error) {
      this.log.warn({ fleet: fleet.name, err: errorFields(error) }, 'warm pool unavailable; the job gets a runner of its own');
      return false;
    }
  }
}
