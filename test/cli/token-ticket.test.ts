/**
 * `artifact-gateway token` and `artifact-gateway ticket`, run as built, against a gateway started
 * with the same environment: what they mint must be accepted there, and only there.
 */
import { generateKeyPairSync } from 'node:crypto';
import { originLabel } from '../../src/artifacts/labels';
import { jwtPayload, runCli, startGateway, type Gateway } from '../support/cli';
import { raw } from '../support/raw-http';

const SECRET = 'token-ticket-test-secret-0123456789abcdef';

async function mint(gw: Gateway, args: string[]): Promise<string> {
  const r = await runCli(['token', ...args], gw.env);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  return r.stdout.trim();
}

async function put(gw: Gateway, token: string, project: string, build: string, path: string, body: string) {
  return fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(project)}/builds/${build}/artifacts/${path}`, {
    method: 'PUT',
    // octet-stream: the gateway then types the file by its name (fetch would send text/plain)
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body,
  });
}

describe('artifact-gateway token', () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({ SIGNING_SECRET: SECRET });
  });
  afterAll(async () => gw?.stop());

  it('mints a token the running gateway accepts for its own project and build', async () => {
    const token = await mint(gw, ['--project', 'acme/web', '--build', '7']);
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const res = await put(gw, token, 'acme/web', '7', 'hello.txt', 'hello');
    expect(res.status).toBe(201);
  });

  it('mints a token that gets 403 on another project and on another build', async () => {
    const token = await mint(gw, ['--project', 'acme/web', '--build', '7']);
    const otherProject = await put(gw, token, 'acme/api', '7', 'hello.txt', 'hello');
    expect(otherProject.status).toBe(403);
    expect(((await otherProject.json()) as { error: { message: string } }).error.message).toMatch(/project "acme\/web", not "acme\/api"/);
    expect((await put(gw, token, 'acme/web', '8', 'hello.txt', 'hello')).status).toBe(403);
  });

  it('mints a read-only token when asked, which may not upload', async () => {
    const token = await mint(gw, ['--project', 'acme/web', '--build', '7', '--scope', 'artifacts:read']);
    const res = await put(gw, token, 'acme/web', '7', 'readonly.txt', 'x');
    expect(res.status).toBe(403);
    const list = await fetch(`${gw.url}/api/v1/projects/acme%2Fweb/builds/7/artifacts`, { headers: { authorization: `Bearer ${token}` } });
    expect(list.status).toBe(200);
  });

  it('puts the defaults in the claims: branch main, trusted, every scope, one hour, the configured issuer', async () => {
    const claims = jwtPayload(await mint(gw, ['--project', 'acme/web', '--build', '7']));
    expect(claims).toMatchObject({
      project: 'acme/web',
      build: '7',
      branch: 'main',
      default_branch: 'main',
      trusted: true,
      scope: 'artifacts:write artifacts:read cache:read cache:write',
      iss: 'artifact-gateway',
      aud: 'artifact-gateway',
    });
    expect(claims.base_branch).toBeUndefined();
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
  });

  it('puts a pull request job in the claims: its branch, base branch, untrusted, the scopes and lifetime asked for', async () => {
    const claims = jwtPayload(
      await mint(gw, [
        '--project',
        'acme/web',
        '--build',
        'pr-12.3',
        '--branch',
        'feature/x',
        '--default-branch',
        'trunk',
        '--base-branch',
        'trunk',
        '--commit',
        '4F2A9C1',
        '--untrusted',
        '--scope',
        'cache:read,cache:write',
        '--ttl',
        '86400',
      ]),
    );
    expect(claims).toMatchObject({
      branch: 'feature/x',
      default_branch: 'trunk',
      base_branch: 'trunk',
      commit: '4f2a9c1',
      trusted: false,
      scope: 'cache:read cache:write',
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(86400);
  });

  it('takes the branch from --default-branch when --branch is absent', async () => {
    const claims = jwtPayload(await mint(gw, ['--project', 'p', '--build', '1', '--default-branch', 'master']));
    expect(claims).toMatchObject({ branch: 'master', default_branch: 'master' });
  });

  it.each([
    [['--build', '1'], /'--project' is required/],
    [['--project', 'p'], /'--build' is required/],
    [['--project', 'p', '--build', '1', '--bogus'], /Unknown option '--bogus'/],
    [['--project', 'p', '--build', '1', 'extra'], /Unexpected argument 'extra'/],
    [['--project', 'p', '--build'], /'--build <value>' argument missing/],
    [['--project', '../etc', '--build', '1'], /'--project' got "..\/etc"/],
    [['--project', 'p', '--build', 'a/b'], /'--build' got "a\/b"/],
    [['--project', 'p', '--build', '1', '--ttl', '0'], /'--ttl' expects a whole number from 1 to 86400/],
    [['--project', 'p', '--build', '1', '--commit', 'main'], /'--commit' expects 7 to 64 hex digits, got "main"/],
    [['--project', 'p', '--build', '1', '--ttl', '86401'], /'--ttl' expects a whole number from 1 to 86400/],
    [['--project', 'p', '--build', '1', '--ttl', '1h'], /'--ttl'/],
    [['--project', 'p', '--build', '1', '--scope', 'artifacts:write,admin'], /'--scope' got unknown scope "admin"/],
    [['--project', 'p', '--build', '1', '--scope', ','], /'--scope' expects one or more of/],
    [['--project', 'p', '--build', '1', '--branch', ''], /'--branch' expects a branch name/],
  ])('exits 2 naming the problem for %j', async (args, message) => {
    const r = await runCli(['token', ...args], gw.env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/artifact-gateway token --help/);
  });

  it('refuses with exit 2 when an external issuer (JWKS URL) is configured', async () => {
    const r = await runCli(['token', '--project', 'p', '--build', '1'], { ...gw.env, JWT_JWKS_URL: 'https://ci.example.com/.well-known/jwks.json' });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/external token issuer \(JWT_JWKS_URL is set\)/);
  });

  it('refuses with exit 2 when an external issuer (public key) is configured', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const r = await runCli(['token', '--project', 'p', '--build', '1'], { ...gw.env, JWT_PUBLIC_KEY: pem, JWT_ALGORITHM: 'ES256' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/JWT_PUBLIC_KEY is set/);
  });

  it('exits 2 naming the variable when the configuration is invalid', async () => {
    const r = await runCli(['token', '--project', 'p', '--build', '1'], { ...gw.env, SIGNING_SECRET: 'short' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/SIGNING_SECRET: must be at least 32 characters/);
  });

  it('prints its help with exit 0', async () => {
    const r = await runCli(['token', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--project P/);
    expect(r.stdout).toMatch(/--untrusted/);
  });
});

describe('artifact-gateway token with the secret the fs driver keeps in DATA_DIR', () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway(); // no SIGNING_SECRET: the server makes DATA_DIR/.signing-secret
  });
  afterAll(async () => gw?.stop());

  it('mints with the same secret file, so the server accepts the token, and warns about nothing', async () => {
    const r = await runCli(['token', '--project', 'acme/web', '--build', '1'], gw.env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect((await put(gw, r.stdout.trim(), 'acme/web', '1', 'a.txt', 'a')).status).toBe(201);
  });

  it('warns when it had to make the secret itself (no server has used that DATA_DIR)', async () => {
    const r = await runCli(['token', '--project', 'acme/web', '--build', '1'], { ...gw.env, DATA_DIR: `${gw.dir}/elsewhere` });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: made a new signing secret in .*elsewhere\/\.signing-secret/);
    expect((await put(gw, r.stdout.trim(), 'acme/web', '1', 'b.txt', 'b')).status).toBe(401);
  });
});

describe('artifact-gateway ticket', () => {
  let gw: Gateway;
  const project = 'acme/private';
  const label = originLabel(project);
  beforeAll(async () => {
    gw = await startGateway({ SIGNING_SECRET: SECRET });
    // the origin exists once the project has an artifact
    const token = await mint(gw, ['--project', project, '--build', '7']);
    const res = await put(gw, token, project, '7', 'index.html', '<!doctype html><title>report</title>');
    expect(res.status).toBe(201);
  });
  afterAll(async () => gw?.stop());

  it("prints a sign-in URL on the project's origin that the gateway exchanges for a session cookie", async () => {
    const r = await runCli(['ticket', '--project', project, '--build', '7'], gw.env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const url = new URL(r.stdout.trim());
    expect(url.host).toBe(`${label}.localhost:${gw.port}`);
    expect(url.pathname).toBe('/_auth');
    expect(url.searchParams.get('next')).toBe('/7/');

    const signIn = await raw(gw.port, { path: url.pathname + url.search, headers: { host: url.host } });
    expect(signIn.status).toBe(302);
    expect(signIn.headers.location).toBe('/7/');
    const cookie = (signIn.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-agw_session='));
    expect(cookie).toMatch(/; HttpOnly/i);

    // and the cookie opens the private report, which stays closed without it
    const session = cookie!.split(';')[0];
    const page = await raw(gw.port, { path: '/7/', headers: { host: url.host, cookie: session } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('<title>report</title>');
    expect((await raw(gw.port, { path: '/7/', headers: { host: url.host } })).status).toBe(401);
  });

  it('lands on / without --build, and on --next when given', async () => {
    const plain = new URL((await runCli(['ticket', '--project', project], gw.env)).stdout.trim());
    expect(plain.searchParams.get('next')).toBe('/');
    const deep = new URL((await runCli(['ticket', '--project', project, '--next', '/7/a b?x=1#top'], gw.env)).stdout.trim());
    expect(deep.searchParams.get('next')).toBe('/7/a b?x=1#top');
  });

  it('signs in through a --next with a unicode report path, against the running command', async () => {
    const token = await mint(gw, ['--project', project, '--build', '7']);
    expect((await put(gw, token, project, '7', '报告/index.html', '<title>unicode report</title>')).status).toBe(201);
    const r = await runCli(['ticket', '--project', project, '--next', '/7/报告/'], gw.env);
    expect(r.code).toBe(0);
    const url = new URL(r.stdout.trim());
    const signIn = await raw(gw.port, { path: url.pathname + url.search, headers: { host: url.host } });
    expect(signIn.status).toBe(302);
    expect(signIn.headers.location).toBe('/7/%E6%8A%A5%E5%91%8A/');
    const session = (signIn.headers['set-cookie'] ?? [])[0].split(';')[0];
    const page = await raw(gw.port, { path: signIn.headers.location!, headers: { host: url.host, cookie: session } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('<title>unicode report</title>');
  });

  it('binds the ticket to the origin label and viewer, for --ttl seconds', async () => {
    const r = await runCli(['ticket', '--project', project, '--viewer', 'alice@example.com', '--ttl', '60'], gw.env);
    const claims = jwtPayload(new URL(r.stdout.trim()).searchParams.get('ticket')!);
    expect(claims).toMatchObject({ aud: label, sub: 'alice@example.com', project });
    expect((claims.exp as number) - (claims.iat as number)).toBe(60);
  });

  it('defaults the lifetime to TICKET_TTL', async () => {
    const r = await runCli(['ticket', '--project', project], { ...gw.env, TICKET_TTL: '120' });
    const claims = jwtPayload(new URL(r.stdout.trim()).searchParams.get('ticket')!);
    expect((claims.exp as number) - (claims.iat as number)).toBe(120);
  });

  it("is refused on another project's origin", async () => {
    const other = new URL((await runCli(['ticket', '--project', project], gw.env)).stdout.trim());
    const token = await mint(gw, ['--project', 'acme/other', '--build', '1']);
    expect((await put(gw, token, 'acme/other', '1', 'index.html', 'x')).status).toBe(201);
    const res = await raw(gw.port, { path: other.pathname + other.search, headers: { host: `${originLabel('acme/other')}.localhost:${gw.port}` } });
    expect(res.status).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('uses the build origin with ISOLATION=build, where --build is required', async () => {
    const env = { ...gw.env, ISOLATION: 'build' };
    const missing = await runCli(['ticket', '--project', project], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/'--build' is required with ISOLATION=build/);
    const url = new URL((await runCli(['ticket', '--project', project, '--build', '7'], env)).stdout.trim());
    expect(url.host).toBe(`${originLabel(project, '7')}.localhost:${gw.port}`);
    expect(url.searchParams.get('next')).toBe('/');
  });

  it.each([
    [['--project', project, '--next', '//evil.com'], /'--next' must be a path on the artifact origin/],
    [['--project', project, '--next', '/\\evil.com'], /'--next'/],
    [['--project', project, '--next', 'https://evil.com/'], /'--next'/],
    [['--project', project, '--next', 'relative'], /'--next'/],
    [['--build', '7'], /'--project' is required/],
    [['--project', project, '--ttl', '5'], /'--ttl' expects a whole number from 10 to 86400/],
    [['--project', project, '--viewer', ''], /'--viewer' expects a name/],
    [['--project', project, '--bogus'], /Unknown option '--bogus'/],
  ])('exits 2 naming the problem for %j', async (args, message) => {
    const r = await runCli(['ticket', ...args], gw.env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  it('prints its help with exit 0', async () => {
    const r = await runCli(['ticket', '-h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--next \/PATH/);
  });
});
