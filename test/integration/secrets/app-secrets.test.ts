import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { APP_SECRET_NAMES, ConfigError } from '../../../src/config.js';
import { readConfigWithAppSecrets } from '../../../src/secrets/app-secrets.js';
import { testPrivateKey } from '../../helpers/app-key.js';
import { clientsFor } from '../../helpers/aws-fixture.js';
import { describeWithMoto, startMoto, type Moto } from '../../helpers/moto.js';

describeWithMoto("the App's credentials from SSM (FLEETBOT_SECRETS_SSM_PREFIX) against moto", () => {
  let moto: Moto;
  const saved = { ...process.env };
  beforeAll(async () => {
    moto = await startMoto();
    // The SDK client the loader makes finds moto through the process's environment, as in Lambda.
    Object.assign(process.env, moto.env);
  });
  afterAll(async () => {
    process.env = saved;
    await moto?.stop();
  });

  const put = (name: string, value: string) =>
    clientsFor(moto).ssm.send(new PutParameterCommand({ Name: name, Type: 'SecureString', Value: value, Overwrite: true }));

  it('reads the credentials the environment lacks from SecureStrings under the prefix, and puts them in the environment', async () => {
    await put('/acme/app/APP_ID', '4242');
    await put('/acme/app/PRIVATE_KEY', testPrivateKey());
    await put('/acme/app/WEBHOOK_SECRET', 'ssm-webhook-secret');
    const env: NodeJS.ProcessEnv = { FLEETBOT_SECRETS_SSM_PREFIX: '/acme/app', WEBHOOK_SECRET: 'from-the-environment' };

    const config = await readConfigWithAppSecrets(APP_SECRET_NAMES, env);

    expect(env).toMatchObject({ APP_ID: '4242', PRIVATE_KEY: testPrivateKey(), WEBHOOK_SECRET: 'from-the-environment' });
    expect(config).toMatchObject({ hasAppCredentials: true, webhookSecret: 'from-the-environment', appSecretsSsmPrefix: '/acme/app' });
    // Read from SSM or not, the private key is redacted from comments and logs.
    expect(config.secretValues).toContain(testPrivateKey());
  });

  it('reads only the names asked for (the webhooks function: its own secret)', async () => {
    await put('/acme/webhooks/WEBHOOK_SECRET', 'webhooks-only');
    const env: NodeJS.ProcessEnv = { FLEETBOT_SECRETS_SSM_PREFIX: '/acme/webhooks' };
    expect((await readConfigWithAppSecrets(['WEBHOOK_SECRET'], env)).webhookSecret).toBe('webhooks-only');
    expect(env.APP_ID).toBeUndefined();
    expect(env.PRIVATE_KEY).toBeUndefined();
  });

  it('takes PRIVATE_KEY_PATH for the private key, and asks SSM nothing when the environment has everything', async () => {
    const env: NodeJS.ProcessEnv = {
      FLEETBOT_SECRETS_SSM_PREFIX: '/nowhere/app',
      APP_ID: '1',
      PRIVATE_KEY_PATH: '/run/secrets/app.pem',
      WEBHOOK_SECRET: 'set',
    };
    expect(await readConfigWithAppSecrets(APP_SECRET_NAMES, env)).toMatchObject({ hasAppCredentials: true, webhookSecret: 'set' });
    expect(env.PRIVATE_KEY).toBeUndefined();
  });

  it('names each missing parameter, never a value read, and leaves the environment as it was', async () => {
    await put('/partial/app/PRIVATE_KEY', testPrivateKey());
    const env: NodeJS.ProcessEnv = { FLEETBOT_SECRETS_SSM_PREFIX: '/partial/app' };

    const failure = readConfigWithAppSecrets(APP_SECRET_NAMES, env);

    await expect(failure).rejects.toThrow(ConfigError);
    await expect(failure).rejects.toThrow(
      'SSM has no value for /partial/app/APP_ID, /partial/app/WEBHOOK_SECRET (FLEETBOT_SECRETS_SSM_PREFIX=/partial/app): ' +
        'put each there as a SecureString, or set APP_ID, WEBHOOK_SECRET in the environment',
    );
    await expect(failure).rejects.not.toThrow(/BEGIN|PRIVATE KEY-----/);
    expect(env).toEqual({ FLEETBOT_SECRETS_SSM_PREFIX: '/partial/app' });
  });

  it('refuses a prefix that is no SSM parameter path', async () => {
    await expect(readConfigWithAppSecrets(APP_SECRET_NAMES, { FLEETBOT_SECRETS_SSM_PREFIX: 'fleetbot/app/' })).rejects.toThrow(
      /FLEETBOT_SECRETS_SSM_PREFIX: expected an SSM parameter path like \/fleetbot\/app/,
    );
  });
});
