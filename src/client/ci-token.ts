/**
 * A job's token when none was given (no --token, no ARTIFACT_GATEWAY_TOKEN): the OIDC ID token the
 * CI gives the job, found where each CI documents it. The gateway verifies it against the policy
 * (docs/identity.md); this only fetches it. Tried in this order:
 *
 * 1. ARTIFACT_GATEWAY_ID_TOKEN: any CI that puts an ID token in a variable, e.g. GitLab's
 *    `id_tokens: { ARTIFACT_GATEWAY_ID_TOKEN: { aud: … } }`
 *    (https://docs.gitlab.com/ci/secrets/id_token_authentication/).
 * 2. GitHub Actions: a GET of $ACTIONS_ID_TOKEN_REQUEST_URL with `&audience=<audience>` and
 *    `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answered with `{"value": "<jwt>"}`;
 *    both variables exist only in jobs with `permissions: id-token: write`
 *    (https://docs.github.com/en/actions/reference/security/oidc).
 * 3. CircleCI: $CIRCLE_OIDC_TOKEN_V2, set in jobs that use a context; its audience is the
 *    organisation id (https://circleci.com/docs/openid-connect-tokens/).
 *
 * Buildkite's token comes from a command (`buildkite-agent oidc request-token --audience …`), run
 * by the job itself into ARTIFACT_GATEWAY_TOKEN. Neither the request token nor the ID token ever
 * appears in a message.
 */
import { InvalidInput } from './errors';

export interface FoundToken {
  token: string;
  /** Where it came from, in words, for a progress line. */
  source: string;
}

export interface FindTokenOptions {
  /** The aud to ask for where the CI lets the job choose (GitHub). */
  audience: string;
  timeoutMs?: number;
  /** Attempts of the GitHub request on a network error or a 5xx. */
  attempts?: number;
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The CI's ID token for this job, or undefined when the environment offers none. */
export async function findCiToken(env: Record<string, string | undefined>, options: FindTokenOptions): Promise<FoundToken | undefined> {
  const given = env.ARTIFACT_GATEWAY_ID_TOKEN?.trim();
  if (given) return { token: checked(given, 'ARTIFACT_GATEWAY_ID_TOKEN'), source: 'ARTIFACT_GATEWAY_ID_TOKEN' };
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL?.trim();
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN?.trim();
  if (url && requestToken) {
    return { token: await requestGitHubToken(url, requestToken, options), source: `GitHub Actions' OIDC ID token for audience ${options.audience}` };
  }
  const circle = env.CIRCLE_OIDC_TOKEN_V2?.trim();
  if (circle) return { token: checked(circle, 'CIRCLE_OIDC_TOKEN_V2'), source: 'CIRCLE_OIDC_TOKEN_V2' };
  if (env.GITHUB_ACTIONS === 'true') {
    throw new InvalidInput(
      'no job token: set ARTIFACT_GATEWAY_TOKEN, or give the job `permissions: id-token: write` so that GitHub offers it an OIDC ID token',
    );
  }
  return undefined;
}

function checked(token: string, where: string): string {
  if (!JWT.test(token)) throw new InvalidInput(`${where} does not hold a JWT`);
  return token;
}

async function requestGitHubToken(base: string, requestToken: string, options: FindTokenOptions): Promise<string> {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new InvalidInput('ACTIONS_ID_TOKEN_REQUEST_URL is not a URL');
  }
  url.searchParams.set('audience', options.audience);
  const attempts = options.attempts ?? 3;
  let last = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 2)));
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { authorization: `bearer ${requestToken}`, accept: 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        redirect: 'error',
      });
    } catch (err) {
      last = (err as Error).name === 'TimeoutError' ? 'no answer in time' : 'could not connect';
      continue;
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      last = `answered ${res.status}`;
      continue;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new InvalidInput(`GitHub refused to issue an OIDC ID token (${res.status}); does the job have \`permissions: id-token: write\`?`);
    }
    let value: unknown;
    try {
      value = ((await res.json()) as { value?: unknown }).value;
    } catch {
      throw new InvalidInput("GitHub's OIDC token endpoint answered something that is not JSON");
    }
    if (typeof value !== 'string' || !JWT.test(value)) throw new InvalidInput("GitHub's OIDC token endpoint answered without a token in value");
    return value;
  }
  throw new InvalidInput(`GitHub's OIDC token endpoint ${last} (${attempts} attempts)`);
}
