import type { ComputeKind } from './compute-kinds.js';
import type { AsgCompute } from './spec.js';

/** An Auto Scaling group built outside fleetbot: fleetbot sizes it, and neither IssueOps nor synth builds one. */
export const asgKind: ComputeKind<AsgCompute> = {
  label: 'Auto Scaling group',
  summaryRows: (compute) => [['Compute', `Auto Scaling group \`${compute.autoScalingGroup}\``]],
  // The group names its own subnets.
  placementRows: () => [],
  unbuildableReason: ({ name }, compute) =>
    `fleet ${name} runs on the Auto Scaling group ${compute.autoScalingGroup}, which is built outside fleetbot; ` +
    'fleetbot synth builds ECS Fargate fleets (compute.type: ecs) and EC2 fleets (compute.type: ec2)',
};
