import {
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import type { AsgCompute, FleetSpec } from '../fleets/spec.js';
import { runnerParameterName } from '../secrets/ssm.js';
import {
  CapacityError,
  TAG_FLEET,
  TAG_JOB,
  TAG_RUNNER,
  type ComputeBackend,
  type ComputeRunner,
  type ComputeState,
  type LaunchRequest,
  type LaunchedRunner,
} from './types.js';
import { chunks, describeMatching, FILTER_VALUES, tagValue } from './ec2-instances.js';

// Instances claimed at once are protected and tagged this many at a time, to stay clear of API rate limits.
const ASSIGN_BATCH = 10;

const CLAIM_PREFIX = 'asg:';

/** The compute id of a runner's claim on the group: the instance that will serve it is not known at launch. */
export function claimId(group: string, runnerName: string): string {
  return `${CLAIM_PREFIX}${group}:${runnerName}`;
}

/** Group names cannot hold ":", so the first one after the prefix ends the group. */
export function parseClaimId(computeId: string): { group: string; runnerName: string } | undefined {
  if (!computeId.startsWith(CLAIM_PREFIX)) return undefined;
  const rest = computeId.slice(CLAIM_PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1) return undefined;
  return { group: rest.slice(0, colon), runnerName: rest.slice(colon + 1) };
}

/** An instance of the group, as Auto Scaling and EC2 see it. */
interface Member {
  instanceId: string;
  /** Auto Scaling's lifecycle state: Pending, InService, Terminating, Standby, ... */
  lifecycle: string;
  /** EC2's state name; undefined when EC2 did not answer for the instance. */
  ec2State: string | undefined;
  /** The runner the instance serves (its `fleetbot:runner` tag); undefined while it serves none. */
  runnerName: string | undefined;
  launchedAt: number;
}

interface GroupView {
  name: string;
  minSize: number;
  maxSize: number;
  desired: number;
  members: Member[];
}

/** A runner's claim on the group, from `launch` (or learnt from `describe`) until an instance serves it. */
interface Claim {
  runnerName: string;
  jobId?: string;
  /** Whether the group's desired capacity already counts it. */
  accepted: boolean;
  /** Why the group took no capacity for it. */
  refusal?: Error;
}

/** What this process knows of one group, and the queue its changes run in. */
interface GroupClaims {
  /** Claims no instance serves yet, oldest first. */
  waiting: Map<string, Claim>;
  /** The end of the queue: one change at a time, so two callers never both set desired capacity from one reading. */
  tail: Promise<unknown>;
  /** A launch's settle that has not started yet; launches arriving meanwhile share it. */
  queuedSettle: Promise<void> | undefined;
}

/** Terminating, Terminating:Wait/Proceed, Terminated, Detaching, Detached. */
function isLeaving(member: Member): boolean {
  return /^(Terminat|Detach)/.test(member.lifecycle);
}

function stateOf(member: Member): ComputeState {
  if (member.ec2State && member.ec2State !== 'pending' && member.ec2State !== 'running') return 'stopped';
  if (isLeaving(member)) return 'stopped';
  if (member.lifecycle.startsWith('Pending') || member.ec2State === 'pending') return 'starting';
  return 'running';
}

function isLive(member: Member): boolean {
  return stateOf(member) !== 'stopped';
}

/** Auto Scaling reports bad input, and instances that are not (or no longer) in the group, as ValidationError. */
function isValidationError(error: unknown): boolean {
  return (error as Error).name === 'ValidationError';
}

function asgCompute(fleet: FleetSpec): AsgCompute {
  if (fleet.compute.type !== 'asg') throw new Error(`fleet ${fleet.name} does not run on an Auto Scaling group`);
  return fleet.compute;
}

/**
 * Runners on the instances of an Auto Scaling group that fleetbot sizes to the fleet's runners: the
 * group's desired capacity is the number of runners with an instance plus those waiting for one,
 * never more than the group's maximum size or the fleet's `maxRunners`. Each instance serves one job,
 * then powers off.
 *
 * The ComputeBackend calls map onto the group like this:
 * - `launch` claims capacity for the runner: it raises the desired capacity by one (without cooldown),
 *   unless an unclaimed instance already covers the claim, and returns a claim id,
 *   `asg:<group>:<runner>`, because which instance will serve the runner is not known yet. A full group
 *   is a CapacityError. Launches that arrive together share one change.
 * - Every call (`launch`, `describe`, `list`, not `stop`) first hands InService instances that serve no
 *   runner yet to waiting claims, oldest instance to oldest claim: it protects the instance from
 *   scale-in, then writes the fleet and runner names into its `fleetbot:fleet` and `fleetbot:runner`
 *   tags (one call). The boot script has to wait for them in IMDS (a group's instance boots without
 *   them) and derives its credential's SSM parameter from them, as on EC2, so an instance never picks a
 *   credential itself (taking the oldest parameter would race). Protection keeps the group from scaling
 *   in an instance that runs a job.
 * - `describe` answers per claim: the state of its instance, `starting` while it waits for one, and
 *   `stopped` once its instance has gone. `list` returns the group's live instances, a tagged one under
 *   its runner's claim id, an untagged one under its instance id (the reconciler stops it as an orphan
 *   if it is still unclaimed after the grace period), plus the claims still waiting.
 * - `stop` of a claim removes the instance's protection (so a stop that fails half way still leaves it
 *   to the group's scale-in) and terminates it with TerminateInstanceInAutoScalingGroup, decrementing
 *   the desired capacity. A claim with no instance (still waiting, or its instance powered off by
 *   itself, which the group would replace) lowers the desired capacity by one instead, unless the group
 *   already asks for no more than its claims need; so stopping twice gives back nothing twice. `stop`
 *   of an instance id terminates that instance only while no waiting claim needs it.
 *
 * Waiting claims are held in memory, since the interface has nowhere else to put them. After a restart
 * `describe`, which the reconciler calls with the compute id of every running runner its listing lacks, learns them again:
 * a claim with neither a live instance nor a past one (EC2 keeps terminated instances visible for about
 * an hour) is waiting. Until then `stop` may give back capacity such a claim needed; the next
 * `describe` raises it again.
 */
export class AsgBackend implements ComputeBackend {
  private readonly groups = new Map<string, GroupClaims>();

  constructor(
    private readonly autoScaling: AutoScalingClient,
    private readonly ec2: EC2Client,
  ) {}

  async launch(fleet: FleetSpec, request: LaunchRequest): Promise<LaunchedRunner> {
    const group = asgCompute(fleet).autoScalingGroup;
    const expectedParameter = runnerParameterName(fleet.name, request.runnerName);
    if (request.credentialParameter !== expectedParameter) {
      // The instance cannot be told where its credential is; it only knows this derivation.
      throw new Error(`Auto Scaling runners read their credential from ${expectedParameter}, not ${request.credentialParameter}`);
    }
    const claims = this.claimsOf(group);
    let claim = claims.waiting.get(request.runnerName);
    if (!claim) {
      claim = { runnerName: request.runnerName, jobId: request.jobId, accepted: false };
      claims.waiting.set(claim.runnerName, claim);
    }
    try {
      await this.settleSoon(fleet, group);
    } catch (error) {
      if (!claim.accepted && claims.waiting.get(claim.runnerName) === claim) claims.waiting.delete(claim.runnerName);
      throw error;
    }
    if (claim.refusal) throw claim.refusal;
    return { computeId: claimId(group, request.runnerName), computeDetail: `asg ${group}` };
  }

  // Auto Scaling takes no reason; the caller logs it.
  async stop(fleet: FleetSpec, computeId: string, _reason: string): Promise<void> {
    const compute = asgCompute(fleet);
    const claim = parseClaimId(computeId);
    if (claim) {
      await this.exclusive(claim.group, () => this.release(claim.group, claim.runnerName));
    } else {
      await this.exclusive(compute.autoScalingGroup, () => this.removeSpare(compute.autoScalingGroup, computeId));
    }
  }

  async describe(fleet: FleetSpec, computeIds: readonly string[]): Promise<Map<string, ComputeState>> {
    asgCompute(fleet);
    const states = new Map<string, ComputeState>(computeIds.map((id) => [id, 'missing']));
    const runnersByGroup = new Map<string, string[]>();
    for (const id of states.keys()) {
      const claim = parseClaimId(id);
      if (claim) runnersByGroup.set(claim.group, [...(runnersByGroup.get(claim.group) ?? []), claim.runnerName]);
    }
    for (const [group, runnerNames] of runnersByGroup) {
      const found = await this.exclusive(group, () => this.describeClaims(fleet, group, runnerNames));
      for (const [runnerName, state] of found) states.set(claimId(group, runnerName), state);
    }
    return states;
  }

  async list(fleet: FleetSpec): Promise<ComputeRunner[]> {
    const group = asgCompute(fleet).autoScalingGroup;
    return this.exclusive(group, async () => {
      const view = await this.settle(fleet, group);
      if (!view) return [];
      const runners: ComputeRunner[] = view.members.filter(isLive).map((member) => ({
        computeId: member.runnerName ? claimId(group, member.runnerName) : member.instanceId,
        runnerName: member.runnerName,
        state: stateOf(member),
      }));
      for (const claim of this.claimsOf(group).waiting.values()) {
        runners.push({ computeId: claimId(group, claim.runnerName), runnerName: claim.runnerName, state: 'starting' });
      }
      return runners;
    });
  }

  private claimsOf(group: string): GroupClaims {
    let claims = this.groups.get(group);
    if (!claims) {
      claims = { waiting: new Map(), tail: Promise.resolve(), queuedSettle: undefined };
      this.groups.set(group, claims);
    }
    return claims;
  }

  private exclusive<T>(group: string, work: () => Promise<T>): Promise<T> {
    const claims = this.claimsOf(group);
    const result = claims.tail.then(work);
    claims.tail = result.catch(() => undefined);
    return result;
  }

  /** A settle for launches: one already queued (not yet started) covers every claim made before it starts. */
  private settleSoon(fleet: FleetSpec, group: string): Promise<void> {
    const claims = this.claimsOf(group);
    claims.queuedSettle ??= this.exclusive(group, async () => {
      claims.queuedSettle = undefined;
      await this.settle(fleet, group);
    });
    return claims.queuedSettle;
  }

  /**
   * Brings the group in line with the claims: new claims are accepted while the group has room (and
   * refused beyond it), free instances go to waiting claims, and the desired capacity rises to cover
   * the claims. It never lowers the capacity: only `stop` does, one claim at a time.
   */
  private async settle(fleet: FleetSpec, group: string, known?: GroupView): Promise<GroupView | undefined> {
    const claims = this.claimsOf(group);
    const view = known ?? (await this.readGroup(group));
    const fresh = () => [...claims.waiting.values()].filter((claim) => !claim.accepted);
    if (!view) {
      for (const claim of fresh()) this.refuse(claims, claim, new Error(`Auto Scaling group ${group} does not exist`));
      return undefined;
    }
    // A runner launched again after its instance was found needs no second one.
    for (const member of view.members) if (member.runnerName && isLive(member)) claims.waiting.delete(member.runnerName);

    const cap = Math.min(view.maxSize, fleet.maxRunners);
    const newClaims = fresh();
    let claimed = this.servedRunners(view) + claims.waiting.size - newClaims.length;
    for (const claim of newClaims) {
      if (view.minSize > 0) {
        // Instances kept up for no claim would wait for a runner tag that never comes.
        this.refuse(
          claims,
          claim,
          new Error(`Auto Scaling group ${group} has a minimum size of ${view.minSize}; fleetbot sizes it from 0`),
        );
      } else if (claimed >= cap) {
        const limit = `at most ${cap} (group maximum ${view.maxSize}, fleet maxRunners ${fleet.maxRunners})`;
        this.refuse(claims, claim, new CapacityError(`Auto Scaling group ${group} is full: ${claimed} runners, ${limit}`));
      } else {
        claimed++;
      }
    }

    await this.assignFreeInstances(fleet, view, claims);
    const target = Math.min(cap, claimed);
    if (target > view.desired) {
      await this.setDesiredCapacity(group, target);
      view.desired = target;
    }
    for (const claim of newClaims) if (!claim.refusal) claim.accepted = true;
    return view;
  }

  private refuse(claims: GroupClaims, claim: Claim, reason: Error): void {
    claim.refusal = reason;
    claims.waiting.delete(claim.runnerName);
  }

  /** Live instances that serve a runner. */
  private servedRunners(view: GroupView): number {
    return view.members.filter((member) => member.runnerName && isLive(member)).length;
  }

  /** Waiting claims, oldest first, each get the oldest InService instance that serves no runner. */
  private async assignFreeInstances(fleet: FleetSpec, view: GroupView, claims: GroupClaims): Promise<void> {
    const free = view.members
      .filter((member) => member.lifecycle === 'InService' && isLive(member) && !member.runnerName)
      .sort((a, b) => a.launchedAt - b.launchedAt);
    const pairs = [...claims.waiting.values()].slice(0, free.length).map((claim, index) => ({ claim, member: free[index] }));
    for (const batch of chunks(pairs, ASSIGN_BATCH)) {
      const results = await Promise.allSettled(batch.map(({ claim, member }) => this.assign(fleet, view.name, claims, claim, member)));
      const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failure) throw failure.reason;
    }
  }

  /** Protection first: a tagged instance the group could still scale in would take its runner's job down with it. */
  private async assign(fleet: FleetSpec, group: string, claims: GroupClaims, claim: Claim, member: Member): Promise<void> {
    try {
      await this.autoScaling.send(
        new SetInstanceProtectionCommand({ AutoScalingGroupName: group, InstanceIds: [member.instanceId], ProtectedFromScaleIn: true }),
      );
    } catch (error) {
      // The instance left the group, or is leaving it, since the group was read: the claim waits for another.
      if (isValidationError(error)) return;
      throw error;
    }
    const tags = [
      { Key: TAG_FLEET, Value: fleet.name },
      { Key: TAG_RUNNER, Value: claim.runnerName },
      // A claim learnt again after a restart no longer knows its job; the tag is for tracing only.
      ...(claim.jobId ? [{ Key: TAG_JOB, Value: claim.jobId }] : []),
    ];
    await this.ec2.send(new CreateTagsCommand({ Resources: [member.instanceId], Tags: tags }));
    member.runnerName = claim.runnerName;
    claims.waiting.delete(claim.runnerName);
  }

  private async describeClaims(fleet: FleetSpec, group: string, runnerNames: readonly string[]): Promise<Map<string, ComputeState>> {
    const states = new Map<string, ComputeState>();
    const view = await this.readGroup(group);
    if (!view) return states;
    const claims = this.claimsOf(group);
    const inGroup = new Set(view.members.map((member) => member.runnerName));
    const unknown = runnerNames.filter((name) => !inGroup.has(name) && !claims.waiting.has(name));
    const hadInstance = await this.runnersWithInstances(unknown);
    for (const runnerName of unknown) {
      if (!hadInstance.has(runnerName)) claims.waiting.set(runnerName, { runnerName, accepted: true });
    }
    await this.settle(fleet, group, view);
    for (const runnerName of runnerNames) {
      const serving = view.members.filter((member) => member.runnerName === runnerName);
      const member = serving.find(isLive) ?? serving[0];
      states.set(runnerName, member ? stateOf(member) : claims.waiting.has(runnerName) ? 'starting' : 'stopped');
    }
    return states;
  }

  /** Stops a claim: terminates its instance, or gives back the capacity it held. */
  private async release(group: string, runnerName: string): Promise<void> {
    const claims = this.claimsOf(group);
    claims.waiting.delete(runnerName);
    const view = await this.readGroup(group);
    if (!view) return;
    const member = view.members.find((member) => member.runnerName === runnerName && !isLeaving(member));
    if (member && (await this.terminate(group, member.instanceId))) return;
    // Its instance never came, or left by itself (the group would replace it), or was just leaving.
    const served = view.members.filter((candidate) => candidate !== member && candidate.runnerName && isLive(candidate)).length;
    if (view.desired > served + claims.waiting.size) await this.setDesiredCapacity(group, view.desired - 1);
  }

  /** Terminates an instance no runner claimed, unless a waiting claim is about to get it. */
  private async removeSpare(group: string, instanceId: string): Promise<void> {
    const view = await this.readGroup(group);
    const member = view?.members.find((candidate) => candidate.instanceId === instanceId);
    if (!view || !member || !isLive(member) || member.runnerName) return;
    const spare = view.members.filter((candidate) => isLive(candidate) && !candidate.runnerName).length;
    if (spare <= this.claimsOf(group).waiting.size) return;
    await this.terminate(group, instanceId);
  }

  /** False when the group no longer holds the instance (it left, or is leaving, by itself). */
  private async terminate(group: string, instanceId: string): Promise<boolean> {
    try {
      await this.autoScaling.send(
        new SetInstanceProtectionCommand({ AutoScalingGroupName: group, InstanceIds: [instanceId], ProtectedFromScaleIn: false }),
      );
      await this.autoScaling.send(
        new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: instanceId, ShouldDecrementDesiredCapacity: true }),
      );
      return true;
    } catch (error) {
      if (!isValidationError(error)) throw error;
      // A ValidationError for an instance that is still in the group is a real one.
      const member = (await this.readGroup(group))?.members.find((candidate) => candidate.instanceId === instanceId);
      if (member && !isLeaving(member)) throw error;
      return false;
    }
  }

  private async setDesiredCapacity(group: string, desired: number): Promise<void> {
    // A cooldown is for scaling policies reacting to metrics; a claim is a runner that must start now.
    await this.autoScaling.send(
      new SetDesiredCapacityCommand({ AutoScalingGroupName: group, DesiredCapacity: desired, HonorCooldown: false }),
    );
  }

  private async readGroup(group: string): Promise<GroupView | undefined> {
    const result = await this.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }));
    const found = result.AutoScalingGroups?.find((candidate) => candidate.AutoScalingGroupName === group);
    if (!found) return undefined;
    const groupInstances = (found.Instances ?? []).filter((instance) => instance.InstanceId);
    const ids = groupInstances.map((instance) => instance.InstanceId!);
    const ec2Instances = new Map<string, Instance>();
    for (const values of chunks(ids, FILTER_VALUES)) {
      for (const instance of await describeMatching(this.ec2, [{ Name: 'instance-id', Values: values }])) {
        if (instance.InstanceId) ec2Instances.set(instance.InstanceId, instance);
      }
    }
    return {
      name: group,
      minSize: found.MinSize ?? 0,
      maxSize: found.MaxSize ?? 0,
      desired: found.DesiredCapacity ?? 0,
      members: groupInstances.map((instance) => {
        const ec2Instance = ec2Instances.get(instance.InstanceId!);
        return {
          instanceId: instance.InstanceId!,
          lifecycle: instance.LifecycleState ?? 'Pending',
          ec2State: ec2Instance?.State?.Name,
          runnerName: tagValue(ec2Instance, TAG_RUNNER),
          launchedAt: ec2Instance?.LaunchTime?.getTime() ?? 0,
        };
      }),
    };
  }

  /** Which of the runners an instance was ever tagged for, terminated ones included. */
  private async runnersWithInstances(runnerNames: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const values of chunks(runnerNames, FILTER_VALUES)) {
      for (const instance of await describeMatching(this.ec2, [{ Name: `tag:${TAG_RUNNER}`, Values: values }])) {
        const runnerName = tagValue(instance, TAG_RUNNER);
        if (runnerName) found.add(runnerName);
      }
    }
    return found;
  }
}
