import { existsSync, readFileSync } from 'node:fs';
import { validate } from 'dockerfile-utils';
import { synthesizeFleet } from '../../../cdktf/synth.js';
import { provisionedFargateFleet, providerSettingsFor } from '../../helpers/terraform.js';

/**
 * images/fleetbot/Dockerfile cannot be built here (no container engine, no registry), so it is linted:
 * dockerfile-utils' validator, then what the image promises: pinned bases and Terraform, a non-root
 * user, a health check on /ping, and files that exist in the build context.
 */

const DOCKERFILE = 'images/fleetbot/Dockerfile';
const text = readFileSync(DOCKERFILE, 'utf8');
const installScript = readFileSync('images/fleetbot/install-terraform.sh', 'utf8');
const terraformRc = readFileSync('images/fleetbot/terraform.rc', 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions with continuation lines joined and comments dropped (no heredocs are used). */
function instructions(source: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const line of source.split('\n')) {
    if (/^\s*#/.test(line) && current === '') continue;
    if (/\\\s*$/.test(line)) {
      current += `${line.replace(/\\\s*$/, '')} `;
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  return logical.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

const all = instructions(text);
const stages: Instruction[][] = [];
for (const instruction of all) {
  if (instruction.keyword === 'FROM') stages.push([]);
  stages.at(-1)?.push(instruction);
}
const runtime = stages.at(-1)!;
const argValue = (name: string) => all.find((i) => i.keyword === 'ARG' && i.args.startsWith(`${name}=`))?.args.slice(name.length + 1);
const envOf = (stage: Instruction[]) =>
  Object.fromEntries(
    stage.filter((i) => i.keyword === 'ENV').flatMap((i) => [...i.args.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]])),
  );

describe('images/fleetbot/Dockerfile', () => {
  it('passes the dockerfile-utils validator with no diagnostics', () => {
    expect(validate(text)).toEqual([]);
  });

  it('pins every base image to an exact version, and Node to the line package.json asks for', () => {
    const stageNames: string[] = [];
    for (const from of all.filter((i) => i.keyword === 'FROM')) {
      const [image, as, name] = from.args.split(/\s+/);
      if (!stageNames.includes(image)) {
        expect(image).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$/);
      }
      if (as?.toUpperCase() === 'AS') stageNames.push(name);
    }
    const nodeVersions = new Set(all.filter((i) => i.keyword === 'FROM').flatMap((i) => /^node:(\d+\.\d+\.\d+)-/.exec(i.args)?.[1] ?? []));
    expect(nodeVersions.size).toBe(1);
    const engines = (JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } }).engines.node;
    const minimum = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(engines)!.slice(1).map(Number);
    for (const version of nodeVersions) {
      const [major, minor, patch] = version.split('.').map(Number);
      expect(major).toBe(minimum[0]);
      expect(minor * 1000 + patch).toBeGreaterThanOrEqual(minimum[1] * 1000 + minimum[2]);
    }
  });

  it('mentions no `latest` and adds nothing from a URL', () => {
    expect(text).not.toMatch(/\blatest\b/i);
    expect(all.filter((i) => i.keyword === 'ADD')).toEqual([]);
  });

  it('runs as a user that is not root, in production mode, listening on every interface', () => {
    const users = runtime.filter((i) => i.keyword === 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    expect(envOf(runtime)).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
  });

  it('keeps data/ on a volume, and starts the compiled app', () => {
    expect(runtime.find((i) => i.keyword === 'VOLUME')?.args).toMatch(/"\/app\/data"/);
    expect(runtime.filter((i) => i.keyword === 'CMD').map((i) => JSON.parse(i.args) as string[])).toEqual([['node', 'dist/src/main.js']]);
  });

  it('checks its health on /ping with node (the image has no curl)', () => {
    const healthchecks = runtime.filter((i) => i.keyword === 'HEALTHCHECK');
    expect(healthchecks).toHaveLength(1);
    const command = /CMD\s+(\[.*\])\s*$/.exec(healthchecks[0].args)?.[1];
    const argv = JSON.parse(command!) as string[];
    expect(argv[0]).toBe('node');
    expect(argv.join(' ')).toContain('/ping');
  });

  it('pins Terraform and the AWS provider, checks both against SHA-256 sums, and matches what CDKTF synthesizes', () => {
    expect(argValue('TERRAFORM_VERSION')).toBe('1.11.4');
    expect(argValue('TERRAFORM_SHA256')).toMatch(/^[0-9a-f]{64}$/);
    expect(argValue('AWS_PROVIDER_BINARY_SHA256')).toMatch(/^[0-9a-f]{64}$/);
    expect(argValue('AWS_PROVIDER_LICENSE_SHA256')).toMatch(/^[0-9a-f]{64}$/);
    expect(installScript).toMatch(/"\$\{TERRAFORM_SHA256\}\s+\$tmp\/terraform\.zip" \| sha256sum -c -/);
    expect(installScript).toContain('"$AWS_PROVIDER_BINARY_SHA256" "$provider_binary"');
    expect(installScript).toMatch(/set -eu/);

    const synthesized = JSON.parse(
      synthesizeFleet(provisionedFargateFleet('subnet-0123456789abcdef0'), {
        backend: { type: 'local' },
        provider: providerSettingsFor('http://127.0.0.1:5000'),
      }),
    ) as { terraform: { required_providers: { aws: { version: string } } } };
    expect(argValue('AWS_PROVIDER_VERSION')).toBe(synthesized.terraform.required_providers.aws.version);
  });

  it('installs the provider where both the app and terraform.rc look for it, and puts terraform on PATH', () => {
    const mirror = /^mirror=(\S+)$/m.exec(installScript)![1];
    expect(mirror).toBe('/usr/local/share/terraform/plugins');
    expect(terraformRc).toContain(`path    = "${mirror}"`);
    expect(
      runtime.some(
        (i) => i.keyword === 'COPY' && i.args.endsWith(`${mirror.replace(/\/plugins$/, '')} ${mirror.replace(/\/plugins$/, '')}`),
      ),
    ).toBe(true);
    expect(envOf(runtime).PATH).toMatch(/^\/opt\/terraform\/bin:/);
  });

  it('copies only files that exist in the build context, and the context leaves out installs and secrets', () => {
    for (const copy of all.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))) {
      const paths = copy.args.split(/\s+/).filter((part) => !part.startsWith('--'));
      for (const source of paths.slice(0, -1)) {
        if (source === '.') continue;
        expect(existsSync(source) ? source : `missing: ${source}`).toBe(source);
      }
    }
    for (const mount of text.matchAll(/--mount=type=bind,source=([^,\s]+)/g)) expect(existsSync(mount[1])).toBe(true);
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'data', '.env', '*.pem', '.git']));
  });

  it('leaves CDKTF out unless ISSUEOPS=true', () => {
    const deps = stages.find((stage) => /\bAS deps$/i.test(stage[0].args))!;
    const install = deps.find((i) => i.keyword === 'RUN' && i.args.includes('npm ci'))!.args;
    expect(install).toMatch(/if \[ "\$ISSUEOPS" = true \]; then omit=""; else omit="--omit=optional"; fi/);
    expect(install).toContain('npm ci --omit=dev $omit');
    expect(argValue('ISSUEOPS')).toBe('false');
  });
});
