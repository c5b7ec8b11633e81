/**
 * A real OpenID provider for the people-login tests, run as a process of its own: oidc-provider
 * (the certified implementation) with its built-in HTML login and consent forms, one confidential
 * test client that must use PKCE, and three people: alice (in the acme-devs group, acme.com),
 * mallory (in neither), and una, whose acme.com address the provider never verified. Configured
 * from the environment; prints one JSON line {"issuer": "http://HOST:PORT"} once it listens, and
 * stops on SIGTERM.
 *
 *   PROVIDER_HOST           the host name in the issuer URL (127.0.0.1 or localhost)
 *   PROVIDER_PORT           port to listen on (0: any free port)
 *   PROVIDER_CLIENT_ID      the test client's id
 *   PROVIDER_CLIENT_SECRET  its secret
 *   PROVIDER_REDIRECT_URIS  space-separated redirect URIs registered for it
 */
import { createServer } from 'node:http';
import process from 'node:process';
import Provider from 'oidc-provider';

const PEOPLE = {
  alice: { sub: 'alice', name: 'Alice Devs', email: 'alice@acme.com', email_verified: true, groups: ['acme-devs'] },
  mallory: { sub: 'mallory', name: 'Mallory Outside', email: 'mallory@example.org', email_verified: true, groups: ['visitors'] },
  // says acme.com but the provider never verified it: an email-domain rule must not let her in
  unverified: { sub: 'unverified', name: 'Una Verified', email: 'una@acme.com', email_verified: false, groups: [] },
};

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const server = createServer();
server.listen(Number(env('PROVIDER_PORT')), () => {
  const issuer = `http://${env('PROVIDER_HOST')}:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: env('PROVIDER_CLIENT_ID'),
        client_secret: env('PROVIDER_CLIENT_SECRET'),
        redirect_uris: env('PROVIDER_REDIRECT_URIS').split(' '),
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    // PKCE for every client, confidential ones too, and S256 only
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    // the claims of the requested scopes go into the ID token, where the gateway reads them
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    cookies: { keys: ['people-provider-test-cookie-key-0123456789'] },
    async findAccount(_ctx, id) {
      const person = PEOPLE[id];
      if (!person) return undefined;
      return { accountId: id, claims: async () => ({ ...person }) };
    },
  });
  // the dev keys and interactions print warnings meant for production; this is a test
  provider.on('server_error', (_ctx, err) => process.stderr.write(`provider server_error: ${err.stack}\n`));
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
