/**
 * A real OIDC issuer on loopback, as a CI runs one: an HTTP server serving a discovery document
 * (`<issuer>/.well-known/openid-configuration`) and a JWKS, and signing ID tokens with `jose` using
 * keys it generated itself. Tests can rotate its key, take its JWKS or discovery down (500), make
 * it hang (no answer, or headers then nothing), make its discovery document name another issuer,
 * and count what was fetched.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';

export type Behaviour = 'ok' | 'down' | 'no-answer' | 'stalled-body';

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: KeyLike;
  jwk: JWK;
}

export interface TestIssuer {
  /** The issuer URL tokens carry in iss (http://127.0.0.1:<port><path>). */
  url: string;
  /** Signs `claims` (iss/iat/nbf/exp filled in unless given) with the current key, or as `options` say. */
  sign(claims: JWTPayload, options?: { kid?: string; key?: SigningKey; expiresIn?: number; notBefore?: number }): Promise<string>;
  /** A new current key with a new kid; the JWKS then publishes only it (or both, with keepOld). */
  rotate(options?: { keepOld?: boolean }): Promise<SigningKey>;
  /** A key the issuer never publishes (a forger's). */
  foreignKey(): Promise<SigningKey>;
  current(): SigningKey;
  jwks: Behaviour;
  discovery: Behaviour;
  /** What the discovery document says iss is (default: the issuer's own URL). */
  discoveryIssuer?: string;
  counts: { discovery: number; jwks: number };
  close(): Promise<void>;
}

let kidCounter = 0;

export async function makeKey(alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg);
  const kid = `test-key-${++kidCounter}-${alg}`;
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** Starts an issuer at http://127.0.0.1:<free port><path> (path '' or e.g. '/_services/token'). */
export async function startIssuer(options: { path?: string; alg?: 'RS256' | 'ES256' } = {}): Promise<TestIssuer> {
  const path = options.path ?? '';
  let published: SigningKey[] = [await makeKey(options.alg)];
  let current = published[0];
  const held = new Set<ServerResponse>();

  const behave = (b: Behaviour, res: ServerResponse, body: object): void => {
    if (b === 'down') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
    } else if (b === 'no-answer') {
      held.add(res);
    } else if (b === 'stalled-body') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys": [');
      held.add(res);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    }
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === `${path}/.well-known/openid-configuration`) {
      issuer.counts.discovery++;
      behave(issuer.discovery, res, {
        issuer: issuer.discoveryIssuer ?? issuer.url,
        jwks_uri: `${issuer.url}/.well-known/jwks`,
        subject_types_supported: ['public', 'pairwise'],
        response_types_supported: ['id_token'],
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
        scopes_supported: ['openid'],
      });
    } else if (url.pathname === `${path}/.well-known/jwks`) {
      issuer.counts.jwks++;
      behave(issuer.jwks, res, { keys: published.map((k) => k.jwk) });
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const issuer: TestIssuer = {
    url: `http://127.0.0.1:${port}${path}`,
    jwks: 'ok',
    discovery: 'ok',
    counts: { discovery: 0, jwks: 0 },
    current: () => current,
    async sign(claims, o = {}) {
      const key = o.key ?? current;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer.url, iat: now, nbf: o.notBefore ?? now - 5, exp: now + (o.expiresIn ?? 600), ...claims })
        .setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: o.kid ?? key.kid })
        .sign(key.privateKey);
    },
    async rotate(o = {}) {
      current = await makeKey(current.alg);
      published = o.keepOld ? [...published, current] : [current];
      return current;
    },
    foreignKey: () => makeKey(current.alg),
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return issuer;
}
