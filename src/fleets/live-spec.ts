import { formatZodIssues } from '../zod-issues.js';
import { provisionedKind } from './compute-registry.js';
import { fleetSpecSchema, type FleetSpec } from './spec.js';

/**
 * The live FleetSpec after apply: the spec with what only Terraform knows filled in (e.g. the security
 * group it created), from the outputs the fleet's stack writes (its compute type's module names them).
 * `outputs` is `terraform output -json` parsed. Throws a clear error when an expected output is missing.
 */
export function liveFleetSpec(spec: FleetSpec, outputs: Record<string, { value: unknown }>): FleetSpec {
  const kind = provisionedKind(spec.compute);
  if (!kind) throw new Error(`fleet ${spec.name}: fleetbot builds no ${spec.compute.type} fleets, so it reads no terraform output for one`);
  const missing = kind.outputs.names.filter((name) => !Object.hasOwn(outputs, name));
  if (missing.length > 0) {
    throw new Error(
      `fleet ${spec.name}: terraform output lacks ${missing.map((name) => `"${name}"`).join(', ')}; ` +
        "was the fleet applied with the current fleetbot, and is the state the fleet's own?",
    );
  }
  const parsed = kind.outputs.schema.safeParse(Object.fromEntries(kind.outputs.names.map((name) => [name, outputs[name].value])));
  if (!parsed.success) throw new Error(`fleet ${spec.name}: unexpected terraform output: ${formatZodIssues(parsed.error).join('; ')}`);
  return fleetSpecSchema.parse({ ...spec, compute: kind.outputs.live(spec.compute, parsed.data) });
}
