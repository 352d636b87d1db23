import { ComputeRouter, type ComputeBackends } from '../../../src/compute/router.js';
import type { ComputeBackend } from '../../../src/compute/types.js';
import { ec2Fleet } from '../../helpers/ec2-fixture.js';
import { ecsFleet } from '../../helpers/fleets.js';

/** A backend that answers with `computeId` and records each call as `method fleet`. */
function recordingBackend(computeId: string, calls: string[]): ComputeBackend {
  return {
    launch: async (fleet) => {
      calls.push(`launch ${fleet.name}`);
      return { computeId, computeDetail: 'test' };
    },
    stop: async (fleet, id, reason) => {
      calls.push(`stop ${fleet.name} ${id} ${reason}`);
    },
    describe: async (fleet, ids) => {
      calls.push(`describe ${fleet.name} ${ids.join(',')}`);
      return new Map(ids.map((id) => [id, 'running']));
    },
    list: async (fleet) => {
      calls.push(`list ${fleet.name}`);
      return [{ computeId, runnerName: 'r', state: 'running' }];
    },
  };
}

describe('the compute router', () => {
  const request = { runnerName: 'r', jobId: '1', credentialParameter: '/fleetbot/runners/f/r' };
  const ecsRunners = ecsFleet({ name: 'containers' });
  const ec2Runners = ec2Fleet({ name: 'vms' });

  it('hands every call for a fleet to the backend of its compute type', async () => {
    const ecsCalls: string[] = [];
    const ec2Calls: string[] = [];
    const router = new ComputeRouter({
      ecs: recordingBackend('arn:task/1', ecsCalls),
      ec2: recordingBackend('i-1', ec2Calls),
      asg: recordingBackend('i-2', []),
    });

    expect(await router.launch(ecsRunners, request)).toEqual({ computeId: 'arn:task/1', computeDetail: 'test' });
    expect(await router.launch(ec2Runners, request)).toEqual({ computeId: 'i-1', computeDetail: 'test' });
    await router.stop(ec2Runners, 'i-1', 'done');
    expect(await router.describe(ec2Runners, ['i-1'])).toEqual(new Map([['i-1', 'running']]));
    expect(await router.list(ecsRunners)).toEqual([{ computeId: 'arn:task/1', runnerName: 'r', state: 'running' }]);

    expect(ecsCalls).toEqual(['launch containers', 'list containers']);
    expect(ec2Calls).toEqual(['launch vms', 'stop vms i-1 done', 'describe vms i-1']);
  });

  it('rejects a fleet whose compute type has no backend, naming the fleet and the type', async () => {
    const ecsCalls: string[] = [];
    // The compiler demands every backend; a JavaScript caller can still leave one out.
    const router = new ComputeRouter({ ecs: recordingBackend('arn:task/1', ecsCalls) } as Partial<ComputeBackends> as ComputeBackends);
    const message = 'fleet vms runs on ec2, but no ec2 compute backend is configured';

    await expect(router.launch(ec2Runners, request)).rejects.toThrow(message);
    await expect(router.stop(ec2Runners, 'i-1', 'done')).rejects.toThrow(message);
    await expect(router.describe(ec2Runners, ['i-1'])).rejects.toThrow(message);
    await expect(router.list(ec2Runners)).rejects.toThrow(message);
    expect(ecsCalls).toEqual([]);
  });
});
