import type { ComputeType } from '../fleets/compute-kinds.js';
import type { FleetSpec } from '../fleets/spec.js';
import type { ComputeBackend, ComputeRunner, ComputeState, LaunchRequest, LaunchedRunner } from './types.js';

/** One backend per compute type: a type without one is a compile error where the app is wired. */
export type ComputeBackends = Record<ComputeType, ComputeBackend>;

/** The scheduler's one backend: hands each call to the backend for the fleet's compute type. */
export class ComputeRouter implements ComputeBackend {
  constructor(private readonly backends: ComputeBackends) {}

  async launch(fleet: FleetSpec, request: LaunchRequest): Promise<LaunchedRunner> {
    return this.backendFor(fleet).launch(fleet, request);
  }

  async stop(fleet: FleetSpec, computeId: string, reason: string): Promise<void> {
    return this.backendFor(fleet).stop(fleet, computeId, reason);
  }

  async describe(fleet: FleetSpec, computeIds: readonly string[]): Promise<Map<string, ComputeState>> {
    return this.backendFor(fleet).describe(fleet, computeIds);
  }

  async list(fleet: FleetSpec): Promise<ComputeRunner[]> {
    return this.backendFor(fleet).list(fleet);
  }

  private backendFor(fleet: FleetSpec): ComputeBackend {
    const type = fleet.compute.type;
    // Undefined only for a caller the compiler did not check (JavaScript, or a cast in a test).
    const backend = this.backends[type] as ComputeBackend | undefined;
    if (!backend) throw new Error(`fleet ${fleet.name} runs on ${type}, but no ${type} compute backend is configured`);
    return backend;
  }
}
