/**
 * The GitHub Actions of this repository (actions/upload, actions/download, actions/cache), run as
 * the runner runs them (test/support/github-runner.ts) against a real gateway configured with
 * nothing but an OIDC policy: each step fetches the gateway's own client, which asks a token
 * endpoint that behaves as GitHub's for an ID token signed by a loopback issuer carrying GitHub's
 * documented claims. The project, the build and the cache scope come from that token.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type Gateway } from '../support/cli';
import { actionMetadata, ACTIONS_DIR, newJob, removeJobs, runStep, type Job } from '../support/github-runner';
import { GITHUB_EXAMPLE, GITHUB_PULL_REQUEST, reissued } from '../support/oidc-fixtures';
import { startIssuer, type TestIssuer } from '../support/oidc-issuer';
import { freePort } from '../support/ports';

const REQUEST_TOKEN = 'request-token-of-the-runner-0123456789';
const ACTIONS = ['upload', 'download', 'cache'];

describe('the GitHub Actions', () => {
  let gw: Gateway;
  let issuer: TestIssuer;
  let endpoint: Server;
  let endpointUrl: string;
  /** What the next token the endpoint signs says about the run: a push to main, or a pull request. */
  let run: 'push' | 'pull_request' = 'push';
  let policyDir: string | undefined;

  beforeAll(async () => {
    issuer = await startIssuer();
    const port = await freePort();
    const policy = {
      issuers: [
        {
          issuer: issuer.url,
          audience: `http://localhost:${port}`,
          mapping: 'github',
          projects: [{ repository: 'octo-org/*', project: 'octo/{1}', scopes: ['artifacts:write', 'artifacts:read', 'cache:read', 'cache:write'] }],
        },
      ],
    };
    policyDir = await mkdtemp(join(tmpdir(), 'agw-gha-policy-'));
    await writeFile(join(policyDir, 'policy.json'), JSON.stringify(policy));
    gw = await startGateway({ PORT: String(port), OIDC_POLICY_FILE: join(policyDir, 'policy.json') });
    // as GitHub documents its token request URL: the request token as bearer, `audience` in the query
    endpoint = createServer((req, res) => {
      const audience = new URL(req.url ?? '/', 'http://x').searchParams.get('audience');
      if (req.headers.authorization?.toLowerCase() !== `bearer ${REQUEST_TOKEN}` || !audience) {
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"forbidden"}');
        return;
      }
      const claims =
        run === 'push'
          ? reissued(GITHUB_EXAMPLE, issuer.url, audience, { event_name: 'push', run_id: '7100', run_attempt: '1' })
          : reissued(GITHUB_PULL_REQUEST, issuer.url, audience, { run_id: '8100', run_attempt: '1' });
      void issuer.sign(claims).then((value) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value })));
    });
    await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
    endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/_apis/pipelines/1/runs/1/idtoken?api-version=2.0`;
  });
  afterAll(async () => {
    await gw?.stop();
    await new Promise<void>((r) => endpoint.close(() => r()));
    await issuer?.close();
    await removeJobs();
    if (policyDir) await rm(policyDir, { recursive: true, force: true });
  });

  /** A job of a push to main (run 7100, attempt 1) or of a pull request (run 8100). */
  const job = (kind: 'push' | 'pull_request' = 'push', env: Record<string, string> = {}) => {
    run = kind;
    return newJob(
      { run_id: kind === 'push' ? '7100' : '8100', run_attempt: '1' },
      { ARTIFACT_GATEWAY_URL: gw.url, ACTIONS_ID_TOKEN_REQUEST_URL: endpointUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN, ...env },
    );
  };
  const fill = async (j: Job, files: Record<string, string>) => {
    for (const [path, body] of Object.entries(files)) {
      await mkdir(join(j.workspace, path, '..'), { recursive: true });
      await writeFile(join(j.workspace, path), body);
    }
  };
  const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

  describe('their metadata', () => {
    it.each(ACTIONS)('%s: runs on node24, its files exist, and the code reads exactly the inputs it declares', async (action) => {
      const meta = await actionMetadata(action);
      expect(meta.runs.using).toBe('node24');
      const files = [meta.runs.main, ...(meta.runs.post ? [meta.runs.post] : [])];
      const code = (await Promise.all([...files.map((f) => readFile(join(ACTIONS_DIR, action, f), 'utf8'))])).join('\n');
      const lib = await readFile(join(ACTIONS_DIR, 'lib', 'runner.cjs'), 'utf8');
      // the inputs every action shares are read in the library's gatewaySettings
      const read = new Set([...`${code}\n${lib}`.matchAll(/(?:input|multilineInput|booleanInput)\('([a-z-]+)'/g)].map((m) => m[1]));
      expect([...read].sort()).toEqual(Object.keys(meta.inputs).sort());
      for (const [name, spec] of Object.entries(meta.inputs)) {
        expect(spec.description).toBeTruthy();
        // a required input has no default: the runner would never let it be missing
        expect(spec.required === true && spec.default !== undefined).toBe(false);
        expect(name).toMatch(/^[a-z][a-z-]*$/);
      }
    });
  });

  describe('upload and download', () => {
    it("uploads a directory and a file to the run's build with the job's OIDC token, and outputs the build's URL", async () => {
      const j = await job();
      await fill(j, { 'report/index.html': '<h1>report</h1>', 'report/css/a.css': 'h1{}', 'summary.txt': 'ok' });
      const r = await runStep('upload', j, { path: 'report\nsummary.txt\n', project: 'octo/octo-repo' });
      expect(r.log).not.toContain('::error::');
      expect(r.code).toBe(0);
      expect(r.outputs.url).toMatch(/^http:\/\/octo-octo-repo-[a-z0-9]+\.localhost:\d+\/7100-1\/$/);
      expect(r.log).toMatch(/artifact-gateway client \S+ from http:\/\/localhost/);

      const d = await job();
      const got = await runStep('download', d, { project: 'octo/octo-repo', build: '7100-1', path: 'out' });
      expect(got.code).toBe(0);
      expect(got.outputs.path).toBe(join(d.workspace, 'out'));
      expect(await readFile(join(d.workspace, 'out/index.html'), 'utf8')).toBe('<h1>report</h1>');
      expect(await readFile(join(d.workspace, 'out/css/a.css'), 'utf8')).toBe('h1{}');
      expect(await readFile(join(d.workspace, 'out/summary.txt'), 'utf8')).toBe('ok');
    });

    it('a token input is masked in the log and used instead of the OIDC token; a bad one fails the step', async () => {
      const j = await job('push', { ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' });
      await fill(j, { 'a.txt': 'a' });
      const token = 'not.a-valid.token-of-this-gateway';
      const r = await runStep('upload', j, { path: 'a.txt', project: 'octo/octo-repo', token });
      expect(r.code).toBe(1);
      expect(r.log).toContain(`::add-mask::${token}`);
      // the token appears once, in the mask command, and nowhere else
      expect(r.log.split(token).length).toBe(2);
      expect(r.log).toMatch(/::error::upload failed \(exit status 1\)/);
      expect(r.log).toMatch(/401/);
    });

    it.each([
      ['no gateway URL', { path: 'a.txt', project: 'octo/octo-repo' }, { ARTIFACT_GATEWAY_URL: '' }, /::error::say which gateway/],
      ['a URL that is not one', { path: 'a.txt', project: 'octo/octo-repo', url: 'not a url' }, {}, /::error::the gateway URL "not a url" is not a URL/],
      ['no project', { path: 'a.txt' }, {}, /::error::the input "project" is required/],
      ['no path', { project: 'octo/octo-repo', path: '\n \n' }, {}, /::error::the input "path" is required/],
      ['a bad boolean', { path: 'a.txt', project: 'octo/octo-repo', 'include-hidden': 'yes' }, {}, /::error::the input "include-hidden" must be true or false/],
      ['a project the policy does not give this repository', { path: 'a.txt', project: 'someone/else' }, {}, /::error::upload failed/],
    ])('fails the step on %s, saying what to fix', async (_, inputs, env, message) => {
      const j = await job('push', env);
      await fill(j, { 'a.txt': 'a' });
      const r = await runStep('upload', j, inputs);
      expect(r.code).toBe(1);
      expect(r.log).toMatch(message);
      expect(r.outputs).toEqual({});
    });

    it('a gateway that cannot be reached fails the step after retries, naming the URL', async () => {
      const dead = `http://127.0.0.1:${await freePort()}`;
      const j = await job('push', { ARTIFACT_GATEWAY_URL: dead });
      await fill(j, { 'a.txt': 'a' });
      const r = await runStep('upload', j, { path: 'a.txt', project: 'octo/octo-repo' });
      expect(r.code).toBe(1);
      expect(r.log).toContain(`::error::could not fetch the client from ${dead}/client/artifact-gateway.cjs`);
    }, 30_000);
  });

  describe('cache', () => {
    const deps = { 'node_modules/dep/index.js': 'module.exports = 1;\n', 'node_modules/dep/package.json': '{"name":"dep"}' };
    const inputs = { path: 'node_modules', key: 'npm-lock-1', 'restore-keys': 'npm-\n', project: 'octo/octo-repo' };

    it('a miss restores nothing and the post step saves; the next job hits the key and does not save again', async () => {
      const first = await job();
      const miss = await runStep('cache', first, inputs);
      expect(miss.code).toBe(0);
      expect(miss.outputs).toEqual({ 'cache-hit': 'false', 'cache-matched-key': '' });
      expect(miss.log).toContain('cache not found for npm-lock-1 or npm-');
      await fill(first, deps);
      const save = await runStep('cache', first, inputs, 'post', miss.state);
      expect(save.log).not.toContain('::warning::');
      expect(save.code).toBe(0);

      const second = await job();
      const hit = await runStep('cache', second, inputs);
      expect(hit.code).toBe(0);
      expect(hit.outputs).toEqual({ 'cache-hit': 'true', 'cache-matched-key': 'npm-lock-1' });
      expect(await readFile(join(second.workspace, 'node_modules/dep/index.js'), 'utf8')).toBe(deps['node_modules/dep/index.js']);
      const skip = await runStep('cache', second, inputs, 'post', hit.state);
      expect(skip.code).toBe(0);
      expect(skip.log).toContain('cache hit on the key npm-lock-1: not saving');

      // a restore key's entry is restored, and is not a hit: the post step saves under the key
      const third = await job();
      const prefix = await runStep('cache', third, { ...inputs, key: 'npm-lock-2' });
      expect(prefix.outputs).toEqual({ 'cache-hit': 'false', 'cache-matched-key': 'npm-lock-1' });
      expect(prefix.state.hit).toBe('false');
    });

    it("a pull request's save is never what the default branch restores", async () => {
      const pr = await job('pull_request');
      const miss = await runStep('cache', pr, { ...inputs, key: 'poisoned', 'restore-keys': '' });
      expect(miss.outputs['cache-hit']).toBe('false');
      await fill(pr, { 'node_modules/dep/index.js': 'steal()' });
      const save = await runStep('cache', pr, { ...inputs, key: 'poisoned', 'restore-keys': '' }, 'post', miss.state);
      expect(save.code).toBe(0);
      expect(save.log).toContain('in scope untrusted:pull/7');

      const main = await job();
      const r = await runStep('cache', main, { ...inputs, key: 'poisoned', 'restore-keys': '' });
      expect(r.outputs).toEqual({ 'cache-hit': 'false', 'cache-matched-key': '' });
      expect(await readdir(main.workspace)).toEqual([]);
    });

    it('fail-on-cache-miss fails the step on a miss; mixed ~/ and workspace paths are refused', async () => {
      const j = await job();
      const r = await runStep('cache', j, { ...inputs, key: 'never-saved', 'restore-keys': '', 'fail-on-cache-miss': 'true' });
      expect(r.code).toBe(1);
      expect(r.log).toContain('::error::no cache entry for never-saved, and fail-on-cache-miss is set');

      const mixed = await runStep('cache', j, { ...inputs, path: '~/.npm\nnode_modules' });
      expect(mixed.code).toBe(1);
      expect(mixed.log).toMatch(/::error::the paths are either all under ~\/ or all in the workspace/);
    });

    it('paths under ~/ are cached relative to the home directory', async () => {
      const home = await job();
      const homeDir = join(home.temp, 'home');
      await mkdir(join(homeDir, '.npm', '_cacache'), { recursive: true });
      await writeFile(join(homeDir, '.npm', '_cacache', 'index'), 'cached');
      home.env.HOME = homeDir;
      const first = await runStep('cache', home, { ...inputs, path: '~/.npm', key: 'home-1', 'restore-keys': '' });
      expect(first.outputs['cache-hit']).toBe('false');
      expect((await runStep('cache', home, { ...inputs, path: '~/.npm', key: 'home-1', 'restore-keys': '' }, 'post', first.state)).code).toBe(0);

      const other = await job();
      other.env.HOME = join(other.temp, 'home');
      await mkdir(other.env.HOME);
      const hit = await runStep('cache', other, { ...inputs, path: '~/.npm', key: 'home-1', 'restore-keys': '' });
      expect(hit.outputs['cache-hit']).toBe('true');
      expect(sha(await readFile(join(other.env.HOME, '.npm/_cacache/index')))).toBe(sha('cached'));
    });
  });
});
