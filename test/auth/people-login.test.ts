/**
 * People sign in with the organisation's OpenID provider, over HTTP on the fs driver: a real
 * provider (oidc-provider in its own process, PKCE required) and the gateway's real app, driven
 * the way a browser drives them: redirects followed by hand, cookies kept per host, the
 * provider's HTML forms posted. Alice is in the acme-devs group; Mallory is in none; Una claims
 * an acme.com address the provider never verified.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { originLabel } from '../../src/artifacts/labels';
import { FLOW_COOKIE_PREFIX, LOGIN_COOKIE } from '../../src/auth/people-login';
import { SESSION_COOKIE } from '../../src/auth/viewer-session';
import { makeTestApp, type TestApp } from '../support/app';
import { runCli } from '../support/cli';
import { Jar, signInAtProvider, startPeopleProvider, type PeopleProvider } from '../support/people-provider';
import { listen, raw, type Listening, type RawResponse } from '../support/raw-http';

const API = 'localhost:8080';
const REDIRECT_URI = 'http://localhost:8080/login/callback';
const WEB = originLabel('acme/web');
const API_PROJECT = originLabel('acme/api');
const HTML = { accept: 'text/html,application/xhtml+xml' };

let provider: PeopleProvider;
let t: TestApp;
let srv: Listening;
let dir: string;

beforeAll(async () => {
  provider = await startPeopleProvider({ redirectUris: [REDIRECT_URI] });
  dir = await mkdtemp(join(tmpdir(), 'agw-people-'));
  const policy = join(dir, 'viewers.json');
  await writeFile(
    policy,
    JSON.stringify({
      viewers: [
        { groups: ['acme-devs'], projects: ['acme/*'] },
        { emailDomains: ['acme.com'], projects: ['acme/web'] },
      ],
    }),
  );
  const secretFile = join(dir, 'client-secret');
  await writeFile(secretFile, `${provider.clientSecret}\n`);
  t = await makeTestApp('fs', {
    VIEWER_OIDC_ISSUER: provider.issuer,
    VIEWER_OIDC_CLIENT_ID: provider.clientId,
    VIEWER_OIDC_CLIENT_SECRET_FILE: secretFile,
    VIEWER_OIDC_SCOPES: 'openid email profile groups',
    VIEWER_POLICY_FILE: policy,
  });
  srv = await listen(t.callback);
  for (const project of ['acme/web', 'acme/api']) {
    const token = await t.token({ project, build: '100' });
    const body = `<!doctype html><h1>${project} report</h1>`;
    const res = await raw(srv.port, {
      method: 'PUT',
      path: `/api/v1/projects/${encodeURIComponent(project)}/builds/100/artifacts/report/index.html`,
      headers: { host: API, authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
      body,
    });
    expect(res.status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await srv?.close();
  await t?.cleanup();
  await provider?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A request to the gateway as a browser on `host` sends it, with that host's cookies. */
async function get(host: string, path: string, jar?: Jar, headers: Record<string, string> = HTML): Promise<RawResponse> {
  const res = await raw(srv.port, { path, headers: { host, ...headers, ...(jar?.header() ? { cookie: jar.header() } : {}) } });
  jar?.take(res.headers['set-cookie']);
  return res;
}

/** The path and query of an absolute Location on `host`. */
function on(host: string, location: string | undefined): string {
  const url = new URL(location ?? '(none)');
  expect(url.host).toBe(host);
  return url.pathname + url.search;
}

interface Browser {
  api: Jar;
  origins: Map<string, Jar>;
  provider: Jar;
}
const browser = (): Browser => ({ api: new Jar(), origins: new Map(), provider: new Jar() });
const originJar = (b: Browser, label: string) => b.origins.get(label) ?? b.origins.set(label, new Jar()).get(label)!;

/** Opens a private page in `b` and goes through whatever sign-in it takes; the last answer. */
async function open(b: Browser, label: string, path: string, person: string): Promise<{ res: RawResponse; providerVisited: boolean }> {
  const host = `${label}.localhost:8080`;
  const first = await get(host, path, originJar(b, label));
  if (first.status !== 302) return { res: first, providerVisited: false };
  const login = await get(API, on(API, first.headers.location), b.api);
  let answer = login;
  let providerVisited = false;
  if (login.status === 302 && login.headers.location!.startsWith(provider.issuer)) {
    providerVisited = true;
    const back = await signInAtProvider(login.headers.location!, person, REDIRECT_URI, b.provider);
    answer = await get(API, on(API, back), b.api);
  }
  if (answer.status !== 302) return { res: answer, providerVisited };
  const auth = await get(host, on(host, answer.headers.location), originJar(b, label));
  expect(auth.status).toBe(302);
  return { res: await get(host, auth.headers.location!, originJar(b, label)), providerVisited };
}

describe('people signing in with the organisation login', () => {
  it('sends a browser without a session to /login on the API host, and keeps the 401 for scripts and CLIs', async () => {
    const res = await get(`${WEB}.localhost:8080`, '/100/report/?tab=2');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`http://localhost:8080/login?origin=${WEB}&next=%2F100%2Freport%2F%3Ftab%3D2`);
    expect(res.headers['set-cookie']).toBeUndefined();
    for (const accept of ['application/json', '*/*']) {
      const json = await get(`${WEB}.localhost:8080`, '/100/report/', undefined, { accept });
      expect(json.status).toBe(401);
      expect(json.json().error.code).toBe('unauthorized');
    }
  });

  it('signs Alice in through the provider: she lands on the private report with the origin cookie, and a second origin needs no second trip', async () => {
    const b = browser();
    const { res, providerVisited } = await open(b, WEB, '/100/report/', 'alice');
    expect(providerVisited).toBe(true);
    expect(res.status).toBe(200);
    expect(res.text).toContain('acme/web report');
    expect(originJar(b, WEB).get(SESSION_COOKIE)).toBeDefined();
    // the API host remembers her; the flow cookie is spent
    expect(b.api.get(LOGIN_COOKIE)).toBeDefined();
    expect(b.api.names().filter((n) => n.startsWith(FLOW_COOKIE_PREFIX))).toEqual([]);

    const second = await open(b, API_PROJECT, '/100/report/', 'alice');
    expect(second.providerVisited).toBe(false);
    expect(second.res.status).toBe(200);
    expect(second.res.text).toContain('acme/api report');
    expect(t.log.lines.some((l) => l.audit === 'viewer.login' && l.viewer === 'alice@acme.com')).toBe(true);
  });

  it('sets the flow and login cookies __Host-, Secure, HttpOnly, SameSite=Lax, with their lifetimes', async () => {
    const start = await get(API, `/login?origin=${WEB}&next=%2F100%2Freport%2F`);
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.location!);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorize.searchParams.get('nonce')).toBeTruthy();
    expect(authorize.searchParams.get('redirect_uri')).toBe(REDIRECT_URI);
    const [flow] = start.headers['set-cookie']!;
    expect(flow).toMatch(new RegExp(`^${FLOW_COOKIE_PREFIX}[A-Za-z0-9_-]{16}=`));
    expect(flow).toMatch(/; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);

    const jar = new Jar();
    jar.take(start.headers['set-cookie']);
    const back = await signInAtProvider(start.headers.location!, 'alice', REDIRECT_URI);
    const done = await get(API, on(API, back), jar);
    expect(done.status).toBe(302);
    const login = done.headers['set-cookie']!.find((c) => c.startsWith(`${LOGIN_COOKIE}=`))!;
    expect(login).toMatch(/; Max-Age=3600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(done.headers.location).toMatch(new RegExp(`^http://${WEB}\\.localhost:8080/_auth\\?ticket=[^&]+&next=%2F100%2Freport%2F$`));
    // the code and state never reach the log
    const u = new URL(back);
    expect(t.log.text()).not.toContain(u.searchParams.get('code')!);
    expect(t.log.text()).not.toContain(u.searchParams.get('state')!);
  });

  it('refuses Mallory, outside the policy, with a 403 page that says who she is signed in as; nothing is set', async () => {
    const b = browser();
    const { res } = await open(b, WEB, '/100/report/', 'mallory');
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.text).toContain('signed in as <strong>mallory@example.org</strong>');
    expect(res.text).toContain('may not view the artifacts of <strong>acme/web</strong>');
    expect(b.api.get(LOGIN_COOKIE)).toBeUndefined();
    expect(originJar(b, WEB).get(SESSION_COOKIE)).toBeUndefined();
    expect(t.log.lines.some((l) => l.audit === 'viewer.refused' && l.viewer === 'mallory@example.org' && l.project === 'acme/web')).toBe(true);
  });

  it('does not let an unverified email address stand for its domain', async () => {
    const { res } = await open(browser(), WEB, '/100/report/', 'unverified');
    expect(res.status).toBe(403);
    expect(res.text).toContain('signed in as <strong>Una Verified</strong>');
  });

  it('answers a forged or unknown state with 400 and sets nothing', async () => {
    const start = await get(API, `/login?origin=${WEB}&next=%2F`);
    const jar = new Jar();
    jar.take(start.headers['set-cookie']);
    const back = new URL(await signInAtProvider(start.headers.location!, 'alice', REDIRECT_URI));
    const state = back.searchParams.get('state')!;
    const code = back.searchParams.get('code')!;
    const forged = [
      `state=${encodeURIComponent('attacker-chosen-state-value-0123456789')}&code=${code}`, // no flow cookie of that name
      `state=${encodeURIComponent(state.slice(0, 16) + 'x'.repeat(27))}&code=${code}`, // the cookie's name, another state
      `code=${code}`, // none
    ];
    for (const query of forged) {
      const res = await get(API, `/login/callback?${query}`, jar);
      expect(res.status).toBe(400);
      expect(res.json().error.code).toBe('bad_login_state');
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    // without the flow cookie (another browser) the genuine answer is refused too
    const stranger = await get(API, `/login/callback?${back.search.slice(1)}`);
    expect(stranger.status).toBe(400);
    expect(stranger.headers['set-cookie']).toBeUndefined();
  });

  it('refuses next values that would leave the origin, and origins that are not labels', async () => {
    const bad = [
      'https://evil.example/',
      '//evil.example/',
      '/\\evil.example',
      '\\\\evil.example',
      '/a\r\nSet-Cookie: x=1',
      '/a\u0000b',
      'evil',
      'javascript:alert(1)',
    ];
    for (const next of bad) {
      const res = await get(API, `/login?origin=${WEB}&next=${encodeURIComponent(next)}`);
      expect([next, res.status]).toEqual([next, 400]);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers.location).toBeUndefined();
    }
    for (const origin of ['evil.example', 'a/b', '', 'UPPER']) {
      const res = await get(API, `/login?origin=${encodeURIComponent(origin)}&next=%2F`);
      expect(res.status).toBe(400);
    }
    expect((await get(API, `/login?origin=nothing-published-here&next=%2F`)).status).toBe(404);
  });

  it('logs out: /_logout clears the origin cookie, /logout the API host sign-in, then the provider end-session page', async () => {
    const b = browser();
    expect((await open(b, WEB, '/100/report/', 'alice')).res.status).toBe(200);
    const host = `${WEB}.localhost:8080`;
    const out = await get(host, '/_logout', originJar(b, WEB));
    expect(out.status).toBe(302);
    expect(out.headers['set-cookie']![0]).toMatch(new RegExp(`^${SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax$`));
    expect(out.headers.location).toBe('http://localhost:8080/logout');
    const apiOut = await get(API, '/logout', b.api);
    expect(apiOut.status).toBe(302);
    expect(apiOut.headers['set-cookie']![0]).toMatch(new RegExp(`^${LOGIN_COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax$`));
    const end = new URL(apiOut.headers.location!);
    expect(end.origin + end.pathname).toBe(`${provider.issuer}/session/end`);
    expect(end.searchParams.get('client_id')).toBe(provider.clientId);
    // signed out everywhere: the origin sends the browser to sign in, and /login to the provider
    expect(originJar(b, WEB).get(SESSION_COOKIE)).toBeUndefined();
    expect(b.api.get(LOGIN_COOKIE)).toBeUndefined();
    const again = await get(host, '/100/report/', originJar(b, WEB));
    expect(again.status).toBe(302);
    const login = await get(API, on(API, again.headers.location), b.api);
    expect(login.headers.location!.startsWith(provider.issuer)).toBe(true);
  });
});

describe('serve with people signing in', () => {
  it('refuses a viewer policy or client secret file it cannot use: exit 2, naming every problem and where', async () => {
    const bad = join(dir, 'bad-viewers.json');
    await writeFile(bad, JSON.stringify({ viewers: [{ group: ['acme-devs'], projects: ['acme/**'] }] }));
    const env = {
      PORT: '0',
      DATA_DIR: join(dir, 'serve-data'),
      VIEWER_OIDC_ISSUER: provider.issuer,
      VIEWER_OIDC_CLIENT_ID: provider.clientId,
      VIEWER_OIDC_CLIENT_SECRET: provider.clientSecret,
      VIEWER_POLICY_FILE: bad,
    };
    const r = await runCli(['serve'], env, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/VIEWER_POLICY_FILE: .*bad-viewers\.json: viewers\[0\]: unknown key "group"/);
    expect(r.stderr).toMatch(/viewers\[0\]\.projects: "acme\/\*\*" is not a project id/);
    const { VIEWER_OIDC_CLIENT_SECRET: _secret, ...withoutSecret } = env;
    const missing = await runCli(
      ['serve'],
      { ...withoutSecret, VIEWER_POLICY_FILE: join(dir, 'viewers.json'), VIEWER_OIDC_CLIENT_SECRET_FILE: join(dir, 'nope') },
      dir,
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/VIEWER_OIDC_CLIENT_SECRET_FILE: cannot read .*nope \(ENOENT\)/);
    expect(r.stderr + missing.stderr).not.toContain(provider.clientSecret);
  });
});
