import { execFile } from 'node:child_process';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateSubnetCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import { synthesizeFleet } from '../../../cdktf/synth.js';
import { TerraformCli } from '../../../src/terraform/cli.js';
import { clientsFor } from '../../helpers/aws-fixture.js';
import { startMoto, type Moto } from '../../helpers/moto.js';
import {
  describeWithTerraform,
  provisionedEc2Fleet,
  providerSettingsFor,
  terraformBinary,
  terraformEnvFor,
  terraformMirror,
} from '../../helpers/terraform.js';

const run = promisify(execFile);

/** The S3 backend with a DynamoDB lock table, against moto: state lands in the bucket under the key prefix. */
describeWithTerraform('fleet state in S3', () => {
  let moto: Moto;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  async function aws(...args: string[]): Promise<string> {
    const { stdout } = await run('aws', ['--endpoint-url', moto.url, '--output', 'json', ...args], {
      env: { ...process.env, ...moto.env },
    });
    return stdout;
  }

  it("keeps a fleet's state at <keyPrefix>/<fleet>.tfstate, locked through the DynamoDB table", async () => {
    await aws('s3api', 'create-bucket', '--bucket', 'acme-terraform');
    await aws(
      'dynamodb',
      'create-table',
      '--table-name',
      'terraform-locks',
      '--attribute-definitions',
      'AttributeName=LockID,AttributeType=S',
      '--key-schema',
      'AttributeName=LockID,KeyType=HASH',
      '--billing-mode',
      'PAY_PER_REQUEST',
    );
    const { ec2 } = clientsFor(moto);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: '10.0.1.0/24' }));

    const settings = providerSettingsFor(moto.url);
    const terraformJson = synthesizeFleet(provisionedEc2Fleet(subnet.Subnet!.SubnetId!), {
      backend: { type: 's3', bucket: 'acme-terraform', keyPrefix: 'fleetbot/test', region: 'us-east-1', dynamodbTable: 'terraform-locks' },
      provider: { ...settings, endpoints: { ...settings.endpoints, s3: moto.url, dynamodb: moto.url } },
    });
    const workdir = await mkdtemp(join(tmpdir(), 'fleetbot-s3-'));
    const dir = join(workdir, 'linux-vm');
    await mkdir(dir);
    await writeFile(join(dir, 'cdk.tf.json'), terraformJson);
    const cli = new TerraformCli({
      binary: terraformBinary,
      pluginMirror: terraformMirror,
      timeoutMs: 180_000,
      stateDir: workdir,
      env: terraformEnvFor(moto),
      secrets: [],
    });

    await cli.init(dir);
    const plan = await cli.plan(dir, join(dir, 'plan.tfplan'));
    expect(plan.add).toBeGreaterThan(0);
    await cli.apply(dir, join(dir, 'plan.tfplan'));

    const state = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'acme-terraform', '--key', 'fleetbot/test/linux-vm.tfstate'));
    expect(state.ContentLength).toBeGreaterThan(0);
    expect((await cli.output(dir)).launch_template?.value).toBe('fleetbot-linux-vm');
    // The lock was taken and released: no lock item is left behind for the state.
    const locks = JSON.parse(await aws('dynamodb', 'scan', '--table-name', 'terraform-locks'));
    expect(locks.Items.filter((item: { LockID: { S: string } }) => !item.LockID.S.endsWith('-md5'))).toEqual([]);
  }, 180_000);
});
