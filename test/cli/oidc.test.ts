/**
 * CI jobs with their CI's own OIDC ID token, end to end: a real gateway (`serve`) configured with
 * nothing but OIDC_POLICY_FILE, real issuers on loopback (discovery, JWKS, jose-signed tokens
 * carrying each CI's documented claims), and the real `upload` and `cache save/restore` commands.
 * The project and the cache scope come from the token and the policy only: a pull request's save
 * is never restored by a default-branch job, a repository outside the policy is refused, and an
 * issuer that is down or slow is a 503 with Retry-After after which nothing was written.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startGateway, type Gateway } from '../support/cli';
import { BUILDKITE_EXAMPLE, CIRCLE_ORG, CIRCLECI_EXAMPLE, GITHUB_EXAMPLE, GITHUB_PULL_REQUEST, GITLAB_EXAMPLE, reissued } from '../support/oidc-fixtures';
import { startIssuer, type TestIssuer } from '../support/oidc-issuer';
import { freePort } from '../support/ports';

const AUD = 'https://artifacts.example.com';
const ALL_SCOPES = ['artifacts:write', 'artifacts:read', 'cache:read', 'cache:write'];

describe('OIDC ID tokens with the real commands', () => {
  let gw: Gateway;
  let work: string;
  let ws: string;
  let port: number;
  const issuers: Record<'gh' | 'gl' | 'circle' | 'bk' | 'down' | 'slow' | 'liar', TestIssuer> = {} as never;

  const cli = (token: string, args: string[], cwd = ws) => runCli(args, { ARTIFACT_GATEWAY_URL: gw.url, ARTIFACT_GATEWAY_TOKEN: token }, cwd);
  const expectNoToken = (r: { stdout: string; stderr: string }, token: string) => {
    for (const part of [token, token.split('.')[2]]) {
      expect(r.stdout).not.toContain(part);
      expect(r.stderr).not.toContain(part);
    }
  };
  const gh = (o: Record<string, unknown> = {}) => issuers.gh.sign(reissued(GITHUB_EXAMPLE, issuers.gh.url, AUD, { event_name: 'push', ...o }));
  const ghPr = (o: Record<string, unknown> = {}) => issuers.gh.sign(reissued(GITHUB_PULL_REQUEST, issuers.gh.url, AUD, o));
  const put = (token: string, project: string, build: string, path: string) =>
    fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(project)}/builds/${build}/artifacts/${path}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: 'report',
    });
  const list = async (token: string, project: string, build: string) => {
    const res = await fetch(`${gw.url}/api/v1/projects/${encodeURIComponent(project)}/builds/${build}/artifacts`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { items: Array<{ path: string }> }).items.map((i) => i.path);
  };

  beforeAll(async () => {
    const [gh1, gl, circle, bk, down, slow, liar] = await Promise.all([
      startIssuer(),
      startIssuer({ alg: 'ES256' }),
      startIssuer({ path: `/org/${CIRCLE_ORG}` }),
      startIssuer(),
      startIssuer(),
      startIssuer(),
      startIssuer(),
    ]);
    Object.assign(issuers, { gh: gh1, gl, circle, bk, down, slow, liar });
    work = await mkdtemp(join(tmpdir(), 'agw-oidc-e2e-'));
    port = await freePort();
    const rule = (repository: string, project: string) => ({ repository, project, scopes: ALL_SCOPES });
    const policy = {
      issuers: [
        // the gateway's own origin too: what the client asks GitHub for by default
        { issuer: gh1.url, audience: [AUD, `http://localhost:${port}`], mapping: 'github', projects: [rule('octo-org/*', 'octo/{1}')] },
        { issuer: gl.url, audience: AUD, mapping: 'gitlab', projects: [rule('my-group/*', 'my-group/{1}')] },
        { issuer: circle.url, audience: CIRCLE_ORG, mapping: 'circleci', projects: [rule('github.com/acme-inc/*', 'acme/{1}')] },
        { issuer: bk.url, audience: AUD, mapping: 'buildkite', projects: [rule('acme-inc/*', 'acme/{1}')] },
        ...[down, slow, liar].map((i) => ({ issuer: i.url, audience: AUD, mapping: 'github', projects: [rule('octo-org/*', 'octo/{1}')] })),
      ],
    };
    await writeFile(join(work, 'policy.json'), JSON.stringify(policy, null, 2));
    gw = await startGateway({ PORT: String(port), OIDC_POLICY_FILE: join(work, 'policy.json') });

    ws = join(work, 'ws');
    await mkdir(join(ws, 'node_modules', 'dep'), { recursive: true });
    await writeFile(join(ws, 'node_modules', 'dep', 'index.js'), 'module.exports = "main";\n');
    await writeFile(join(ws, 'report.html'), '<p>report</p>');
  });
  afterAll(async () => {
    await gw?.stop();
    await Promise.all(Object.values(issuers).map((i) => i.close()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('GitHub Actions: a push job uploads to its mapped project and build ($GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT)', async () => {
    const token = await gh({ run_id: '5000', run_attempt: '1' });
    const r = await cli(token, ['upload', '--project', 'octo/octo-repo', '--build', '5000-1', 'report.html']);
    expect(r.stderr).toContain('1 uploaded, 0 unchanged, 0 failed');
    expect(r.code).toBe(0);
    expectNoToken(r, token);
    expect(await list(token, 'octo/octo-repo', '5000-1')).toEqual(['report.html']);
  });

  it('GitHub Actions: the token writes its own build only, and its own project only', async () => {
    const token = await gh({ run_id: '5000', run_attempt: '2' });
    const other = await cli(token, ['upload', '--project', 'octo/octo-repo', '--build', '5000-1', 'report.html']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/403 forbidden: this token writes build "5000-2" only/);
    const project = await cli(token, ['upload', '--project', 'octo/other', '--build', '5000-2', 'report.html']);
    expect(project.code).toBe(1);
    expect(project.stderr).toMatch(/403 forbidden: this token is for project "octo\/octo-repo"/);
  });

  it("caches: a pull request restores the default branch's save, and its own save is never restored by the default branch", async () => {
    const main = await gh({ run_id: '5001', run_attempt: '1' });
    const saved = await cli(main, ['cache', 'save', '--project', 'octo/octo-repo', '--key', 'deps-main', 'node_modules']);
    expect(saved.stderr).toMatch(/saved cache "deps-main" .* in scope branch:main/);
    expect(saved.code).toBe(0);

    const pr = await ghPr();
    const target = await mkdtemp(join(work, 'pr-'));
    const restored = await cli(pr, ['cache', 'restore', '--project', 'octo/octo-repo', '--key', 'deps-main', 'node_modules'], target);
    expect(restored.code).toBe(0);
    expect(await readFile(join(target, 'node_modules', 'dep', 'index.js'), 'utf8')).toBe('module.exports = "main";\n');

    await writeFile(join(ws, 'node_modules', 'dep', 'index.js'), 'module.exports = "poisoned";\n');
    try {
      const prSave = await cli(pr, ['cache', 'save', '--project', 'octo/octo-repo', '--key', 'deps-pr', 'node_modules']);
      expect(prSave.stderr).toMatch(/in scope untrusted:pull\/7/);
      expect(prSave.code).toBe(0);
      // pull_request_target runs on main with ref_protected "true": still a pull request's code
      const prt = await ghPr({ event_name: 'pull_request_target', ref: 'refs/heads/main', ref_protected: 'true' });
      const prtSave = await cli(prt, ['cache', 'save', '--project', 'octo/octo-repo', '--key', 'deps-prt', 'node_modules']);
      expect(prtSave.stderr).toMatch(/in scope untrusted:pull_request_target\/stranger\/patch-1/);
      expect(prtSave.code).toBe(0);
    } finally {
      await writeFile(join(ws, 'node_modules', 'dep', 'index.js'), 'module.exports = "main";\n');
    }

    const later = await gh({ run_id: '5002', run_attempt: '1' });
    for (const key of ['deps-pr', 'deps-prt']) {
      const miss = await cli(later, ['cache', 'restore', '--project', 'octo/octo-repo', '--key', key, 'node_modules'], await mkdtemp(join(work, 'main-')));
      expect(miss.stderr).toContain(`cache miss: no entry for "${key}"`);
      expect(miss.code).toBe(3);
    }
  });

  it.each([
    [
      'GitLab',
      'gl',
      () => reissued(GITLAB_EXAMPLE, issuers.gl.url, AUD, { ref: 'main', ref_path: 'refs/heads/main', ref_protected: 'true' }),
      'my-group/my-project',
      '574',
      'branch:main',
    ],
    [
      'CircleCI',
      'circle',
      () => reissued(CIRCLECI_EXAMPLE, issuers.circle.url, CIRCLE_ORG),
      'acme/api',
      CIRCLECI_EXAMPLE['oidc.circleci.com/pipeline-id'] as string,
      'branch:main',
    ],
    ['Buildkite', 'bk', () => reissued(BUILDKITE_EXAMPLE, issuers.bk.url, AUD), 'acme/super-duper-app', '1', 'branch:main'],
  ] as const)('%s: the documented token uploads to its mapped project and saves in its trusted scope', async (_ci, which, claims, project, build, scope) => {
    const token = await issuers[which].sign(claims());
    const up = await cli(token, ['upload', '--project', project, '--build', build, 'report.html']);
    expect(up.stderr).toContain('1 uploaded');
    expect(up.code).toBe(0);
    const save = await cli(token, ['cache', 'save', '--project', project, '--key', `k-${which}`, 'node_modules']);
    expect(save.stderr).toContain(`in scope ${scope}`);
    expect(save.code).toBe(0);
    expectNoToken(save, token);
  });

  it.each([
    [
      'a repository outside the policy (403)',
      () => gh({ repository: 'mallory/octo-repo' }),
      /403 forbidden: repository "mallory\/octo-repo" of issuer .* is not allowed/,
    ],
    [
      'an issuer outside the policy (401)',
      () => issuers.gh.sign(reissued(GITHUB_EXAMPLE, 'https://evil.example', AUD)),
      /401 unauthorized: .*issuer "https:\/\/evil.example" is not trusted/,
    ],
    [
      'a wrong audience (401)',
      () => issuers.gh.sign(reissued(GITHUB_EXAMPLE, issuers.gh.url, 'https://github.com/octo-org')),
      /401 unauthorized: .*audience \(aud\)/,
    ],
    ['an expired token (401)', () => issuers.gh.sign(reissued(GITHUB_EXAMPLE, issuers.gh.url, AUD), { expiresIn: -300 }), /401 unauthorized: .*has expired/],
  ])('refuses %s with a message saying why, writing nothing and never printing the token', async (_what, make, message) => {
    const token = await make();
    const r = await cli(token, ['upload', '--project', 'octo/octo-repo', '--build', 'example-run-id-2', 'report.html']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expectNoToken(r, token);
  });

  it('serve refuses a policy file it cannot use: exit 2, naming every problem and where', async () => {
    const bad = join(work, 'bad-policy.json');
    await writeFile(bad, JSON.stringify({ issuers: [{ issuer: 'http://ci.example.com', mapping: 'jenkins', projects: [] }] }));
    const r = await runCli(['serve'], { PORT: '0', DATA_DIR: join(work, 'bad-data'), OIDC_POLICY_FILE: bad }, work);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/OIDC_POLICY_FILE: .*bad-policy\.json: issuers\[0\]\.issuer: must be an https URL/);
    expect(r.stderr).toMatch(/issuers\[0\]\.audience: required/);
    expect(r.stderr).toMatch(/issuers\[0\]\.mapping: "jenkins" is not a built-in mapping/);
    expect(r.stderr).toMatch(/issuers\[0\]\.projects: required/);
    const missing = await runCli(['serve'], { PORT: '0', DATA_DIR: join(work, 'bad-data'), OIDC_POLICY_FILE: join(work, 'nope.json') }, work);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/OIDC_POLICY_FILE: cannot read .*nope\.json \(ENOENT\)/);
  });

  it("the gateway's own HS256 job tokens keep working beside the OIDC issuers", async () => {
    const minted = await runCli(['token', '--project', 'octo/octo-repo', '--build', 'hs-1'], gw.env);
    expect(minted.code).toBe(0);
    const r = await cli(minted.stdout.trim(), ['upload', '--project', 'octo/octo-repo', '--build', 'hs-1', 'report.html']);
    expect(r.code).toBe(0);
  });

  describe('an issuer that is down, slow or lying: 503 with Retry-After, nothing written', () => {
    it.each([
      ['its JWKS answers 500', 'down', (): void => void (issuers.down.jwks = 'down')],
      ['its JWKS does not answer (OIDC_FETCH_TIMEOUT, 5 s)', 'slow', (): void => void (issuers.slow.jwks = 'no-answer')],
      ['its discovery document names another issuer', 'liar', (): void => void (issuers.liar.discoveryIssuer = 'https://token.actions.githubusercontent.com')],
    ] as const)(
      '%s',
      async (_what, which, breakIt) => {
        const issuer = issuers[which];
        breakIt();
        const token = await issuer.sign(reissued(GITHUB_EXAMPLE, issuer.url, AUD, { event_name: 'push', run_id: '6000', run_attempt: '1' }));
        const started = Date.now();
        const res = await put(token, 'octo/octo-repo', '6000-1', `${which}.txt`);
        expect(res.status).toBe(503);
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('issuer_unavailable');
        expect(body.error.message).toMatch(/issuer could not be reached/);
        expect(Date.now() - started).toBeLessThan(8000);

        const viaCli = await cli(token, ['upload', '--retries', '0', '--project', 'octo/octo-repo', '--build', '6000-1', 'report.html']);
        expect(viaCli.code).toBe(1);
        expect(viaCli.stderr).toMatch(/503/);
        expectNoToken(viaCli, token);

        // a job of a healthy issuer mapped to the same project sees nothing of the refused requests
        expect(await list(await gh(), 'octo/octo-repo', '6000-1')).toEqual([]);
      },
      30_000,
    );
  });

  describe('the client finds the CI token by itself when ARTIFACT_GATEWAY_TOKEN is not set', () => {
    const REQUEST_TOKEN = 'request-token-of-the-runner-0123456789';
    let endpoint: Server;
    let endpointUrl: string;
    const seen: Array<{ authorization?: string; audience: string | null; apiVersion: string | null }> = [];
    let answer: 'token' | 'forbidden' = 'token';

    beforeAll(async () => {
      // behaves as GitHub's documents its token request URL: bearer request token, `audience`
      // query parameter, `{"value": "<jwt>"}` signed by the issuer for that audience
      endpoint = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        const audience = url.searchParams.get('audience');
        seen.push({ authorization: req.headers.authorization, audience, apiVersion: url.searchParams.get('api-version') });
        if (answer === 'forbidden' || req.headers.authorization?.toLowerCase() !== `bearer ${REQUEST_TOKEN}` || !audience) {
          res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"forbidden"}');
          return;
        }
        void issuers.gh
          .sign(reissued(GITHUB_EXAMPLE, issuers.gh.url, audience, { event_name: 'push', run_id: '7000', run_attempt: '1' }))
          .then((value) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value })));
      });
      await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
      endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/_apis/pipelines/1/runs/1/idtoken?api-version=2.0`;
    });
    afterAll(() => new Promise<void>((r) => endpoint.close(() => r())));
    const github = { ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN, GITHUB_ACTIONS: 'true' };
    const run = (args: string[], env: Record<string, string>) => runCli(args, { ARTIFACT_GATEWAY_URL: gw.url, ...env }, ws);

    it("GitHub Actions: requests an ID token for the gateway's origin and uploads with it", async () => {
      seen.length = 0;
      const r = await run(['upload', '--project', 'octo/octo-repo', '--build', '7000-1', 'report.html'], {
        ...github,
        ACTIONS_ID_TOKEN_REQUEST_URL: endpointUrl,
      });
      expect(r.stderr).toContain('1 uploaded');
      expect(r.code).toBe(0);
      expect(seen).toEqual([{ authorization: `bearer ${REQUEST_TOKEN}`, audience: `http://localhost:${port}`, apiVersion: '2.0' }]);
      expect(r.stdout + r.stderr).not.toContain(REQUEST_TOKEN);
    });

    it('GitHub Actions: asks for ARTIFACT_GATEWAY_AUDIENCE when set, and the cache commands find the token too', async () => {
      seen.length = 0;
      const env = { ...github, ACTIONS_ID_TOKEN_REQUEST_URL: endpointUrl, ARTIFACT_GATEWAY_AUDIENCE: AUD };
      const r = await run(['cache', 'save', '--project', 'octo/octo-repo', '--key', 'found-token', 'node_modules'], env);
      expect(r.stderr).toContain('in scope branch:main');
      expect(r.code).toBe(0);
      expect(seen.map((s) => s.audience)).toEqual([AUD]);
    });

    it('ARTIFACT_GATEWAY_TOKEN still wins: GitHub is not asked', async () => {
      seen.length = 0;
      const minted = await runCli(['token', '--project', 'octo/octo-repo', '--build', 'hs-2'], gw.env);
      const r = await run(['upload', '--project', 'octo/octo-repo', '--build', 'hs-2', 'report.html'], {
        ...github,
        ACTIONS_ID_TOKEN_REQUEST_URL: endpointUrl,
        ARTIFACT_GATEWAY_TOKEN: minted.stdout.trim(),
      });
      expect(r.code).toBe(0);
      expect(seen).toEqual([]);
    });

    it('GitHub Actions without id-token permission, or a refusal: exit 2 saying what to fix, never the request token', async () => {
      const without = await run(['upload', '--project', 'octo/octo-repo', '--build', '7000-1', 'report.html'], { GITHUB_ACTIONS: 'true' });
      expect(without.code).toBe(2);
      expect(without.stderr).toMatch(/permissions: id-token: write/);
      answer = 'forbidden';
      try {
        const refused = await run(['upload', '--project', 'octo/octo-repo', '--build', '7000-1', 'report.html'], {
          ...github,
          ACTIONS_ID_TOKEN_REQUEST_URL: endpointUrl,
        });
        expect(refused.code).toBe(2);
        expect(refused.stderr).toMatch(/GitHub refused to issue an OIDC ID token \(403\); does the job have `permissions: id-token: write`/);
        expect(refused.stdout + refused.stderr).not.toContain(REQUEST_TOKEN);
      } finally {
        answer = 'token';
      }
    });

    it.each([
      [
        'GitLab: the id_tokens variable ARTIFACT_GATEWAY_ID_TOKEN',
        'ARTIFACT_GATEWAY_ID_TOKEN',
        'gl',
        () => reissued(GITLAB_EXAMPLE, issuers.gl.url, AUD, { ref: 'main', ref_protected: 'true' }),
        'my-group/my-project',
        '574',
      ],
      [
        'CircleCI: CIRCLE_OIDC_TOKEN_V2',
        'CIRCLE_OIDC_TOKEN_V2',
        'circle',
        () => reissued(CIRCLECI_EXAMPLE, issuers.circle.url, CIRCLE_ORG),
        'acme/api',
        CIRCLECI_EXAMPLE['oidc.circleci.com/pipeline-id'] as string,
      ],
    ] as const)('%s', async (_what, variable, which, claims, project, build) => {
      const token = await issuers[which].sign(claims());
      const r = await run(['upload', '--project', project, '--build', build, 'report.html'], { [variable]: token });
      expect(r.stderr).toMatch(/1 uploaded|0 uploaded, 1 unchanged/);
      expect(r.code).toBe(0);
      expectNoToken(r, token);
    });
  });
});
