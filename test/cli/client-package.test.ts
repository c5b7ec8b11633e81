/**
 * The npm package of the runner client (packages/client, `artifact-gateway-client`): what
 * `npm pack` puts in it (the one bundled file, its README and package.json, nothing else), and
 * that installing the packed tarball globally, offline, gives a working `artifact-gateway` command.
 * jest's global setup has built and copied the bundle, so pack runs with --ignore-scripts.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '../..');
const PACKAGE = join(ROOT, 'packages', 'client');
const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; private?: boolean };
const client = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as Record<string, any>;

describe('the npm package artifact-gateway-client', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'agw-pack-'));
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });
  // npm's own cache and settings in the temp dir: nothing from the machine's
  const npmEnv = () => ({
    ...process.env,
    npm_config_cache: join(tmp, 'npm-cache'),
    npm_config_userconfig: join(tmp, 'npmrc'),
    npm_config_update_notifier: 'false',
  });

  it('is publishable, has the gateway version, no dependencies and the artifact-gateway command', () => {
    expect(client.private).toBeUndefined();
    expect(client.version).toBe(root.version);
    expect(client.bin).toEqual({ 'artifact-gateway': 'artifact-gateway.cjs' });
    expect(client.dependencies).toBeUndefined();
    expect(client.engines).toEqual({ node: '>=20' });
  });

  it('packs exactly the bundle (executable, the file the gateway serves), the README and package.json', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PACKAGE, env: npmEnv() });
    const [packed] = JSON.parse(stdout) as { name: string; files: { path: string; size: number; mode: number }[] }[];
    expect(packed.name).toBe('artifact-gateway-client');
    expect(packed.files.map((f) => f.path).sort()).toEqual(['README.md', 'artifact-gateway.cjs', 'package.json']);
    const bundle = packed.files.find((f) => f.path === 'artifact-gateway.cjs')!;
    expect(bundle.mode & 0o111).toBe(0o111);
    const served = await readFile(join(ROOT, 'dist', 'bundle', 'artifact-gateway.cjs'));
    expect(bundle.size).toBe(served.length);
    expect((await readFile(join(PACKAGE, 'artifact-gateway.cjs'))).equals(served)).toBe(true);
  });

  it('installs globally from the packed tarball (offline) as a working artifact-gateway command', async () => {
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], { cwd: PACKAGE, env: npmEnv() });
    const tarball = join(tmp, `artifact-gateway-client-${client.version}.tgz`);
    const prefix = join(tmp, 'global');
    await run('npm', ['install', '--global', '--prefix', prefix, '--offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], {
      cwd: tmp,
      env: npmEnv(),
    });
    // the bin link, run through its shebang with only PATH set: no NODE_PATH, cwd outside the repository
    const bin = join(prefix, 'bin', 'artifact-gateway');
    const version = await run(bin, ['--version'], { cwd: tmp, env: { PATH: process.env.PATH ?? '' } });
    expect(version.stdout).toMatch(new RegExp(`^artifact-gateway ${root.version.replace(/\./g, '\\.')}(\\+[0-9a-f]{7,40})?\\n$`));
    const help = await run(bin, ['--help'], { cwd: tmp, env: { PATH: process.env.PATH ?? '' } });
    expect(help.stdout).toMatch(/^ {2}upload /m);
    expect(help.stdout).toMatch(/^ {2}cache /m);
  }, 120_000);
});
