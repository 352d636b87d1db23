import { ComputeRouter, type ComputeBackends } from '../../src/compute/router.js';

/**
 * A router over only the backends a test drives. The app's wiring must name a backend for every compute
 * type (the compiler checks it); a test's fleet of another type fails as an unconfigured one would.
 */
export function routerFor(backends: Partial<ComputeBackends>): ComputeRouter {
  return new ComputeRouter(backends as ComputeBackends);
}
