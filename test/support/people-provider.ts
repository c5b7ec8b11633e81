/**
 * The test OpenID provider (oidc-people-provider.mjs, oidc-provider in a process of its own), and a
 * person going through its HTML login and consent forms the way a browser does: redirects
 * followed one by one, the provider's cookies kept in a jar, each form posted as it is written.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export interface PeopleProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Everything it printed, for a failure message. */
  output(): string;
  stop(): Promise<void>;
}

export const PROVIDER_SCRIPT = resolve(__dirname, 'oidc-people-provider.mjs');

export async function startPeopleProvider(options: { host?: string; redirectUris: string[] }): Promise<PeopleProvider> {
  const clientId = 'artifact-gateway-test';
  const clientSecret = 'people-provider-test-client-secret-0123456789';
  const child = spawn(process.execPath, [PROVIDER_SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      PROVIDER_HOST: options.host ?? '127.0.0.1',
      PROVIDER_PORT: '0',
      PROVIDER_CLIENT_ID: clientId,
      PROVIDER_CLIENT_SECRET: clientSecret,
      PROVIDER_REDIRECT_URIS: options.redirectUris.join(' '),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const issuer = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`the test provider did not start:\n${out}`)), 20_000);
    const check = () => {
      const line = out.split('\n').find((l) => l.startsWith('{"issuer"'));
      if (line) {
        clearTimeout(timer);
        resolvePromise((JSON.parse(line) as { issuer: string }).issuer);
      }
    };
    child.stdout.on('data', check);
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`the test provider exited with ${code}:\n${out}`));
    });
  });
  return {
    issuer,
    clientId,
    clientSecret,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A cookie jar for one host: name -> value, as Set-Cookie headers leave it. */
export class Jar {
  private readonly cookies = new Map<string, string>();
  take(setCookies: string[] | undefined): void {
    for (const line of setCookies ?? []) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=.*1970/i.test(a));
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
  }
  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
  names(): string[] {
    return [...this.cookies.keys()];
  }
  header(): string {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }
}

/**
 * Follows the provider's pages from its authorization URL as `login` (any password: the test
 * provider's form checks none), consenting when asked, until it redirects to `redirectUri`;
 * returns that URL (with code and state).
 */
export async function signInAtProvider(authorizationUrl: string, login: string, redirectUri: string, jar = new Jar()): Promise<string> {
  let url = authorizationUrl;
  let init: RequestInit = {};
  for (let hop = 0; hop < 20; hop++) {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header() } });
    jar.take(res.headers.getSetCookie());
    init = {};
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, url).toString();
      if (next.startsWith(redirectUri)) return next;
      url = next;
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`the provider answered ${res.status} at ${url}: ${html.slice(0, 500)}`);
    const form = /<form[^>]*action="([^"]+)"[^>]*method="post"[\s\S]*?<input type="hidden" name="prompt" value="(\w+)"/.exec(html);
    if (!form) throw new Error(`no login or consent form at ${url}: ${html.slice(0, 500)}`);
    const fields: Record<string, string> = form[2] === 'login' ? { prompt: 'login', login, password: 'any' } : { prompt: form[2] };
    url = new URL(form[1], url).toString();
    init = { method: 'POST', body: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  }
  throw new Error('the provider redirected more than 20 times');
}
