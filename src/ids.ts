/**
 * Project and build ids, and the scopes a job token grants: the names that job tokens, the
 * configuration (PUBLIC_PROJECTS), the API and artifact routes, and the CLI all check. Ids travel
 * in URLs, host labels and storage keys, so they are kept to a safe alphabet, here and only here.
 */
import { BadRequestError } from './errors';

/** Up to four slash-separated segments, e.g. `acme/web`; no segment starts with a dot or dash. */
export const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){0,3}$/;
export const BUILD_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type IdKind = 'project' | 'build';
const PATTERNS: Record<IdKind, RegExp> = { project: PROJECT_ID, build: BUILD_ID };

export function isId(kind: IdKind, value: string | undefined): value is string {
  return value !== undefined && PATTERNS[kind].test(value);
}

/**
 * A project pattern (`acme/*`: `*` matches one path segment, `**` is not supported) as a RegExp,
 * or undefined when it is no pattern of a project id. The viewer policy and
 * STRICT_CONTENT_PROJECTS read patterns with this one definition.
 */
export function projectPattern(pattern: string): RegExp | undefined {
  if (pattern.includes('**') || !PROJECT_ID.test(pattern.replace(/\*/g, 'x'))) return undefined;
  return new RegExp(`^${pattern.split('*').map(escapeRegExp).join('[^/]+')}$`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What a valid id of this kind looks like, for error messages. */
export function idPattern(kind: IdKind): string {
  return PATTERNS[kind].source;
}

/** A decoded route parameter as an id, or a 400 `invalid_id` naming what was expected. */
export function checkId(kind: IdKind, value: string | undefined): string {
  if (!isId(kind, value)) {
    throw new BadRequestError(`${kind} ${JSON.stringify(value ?? '')} is not valid (expected ${idPattern(kind)})`, 'invalid_id');
  }
  return value;
}

export const SCOPES = ['artifacts:write', 'artifacts:read', 'cache:read', 'cache:write', 'artifacts:delete', 'cache:delete'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * What a token gets when nobody names its scopes (`artifact-gateway token`): everything but the
 * scopes that destroy what others stored, which must be asked for by name.
 */
export const DEFAULT_SCOPES: readonly Scope[] = SCOPES.filter((s) => !s.endsWith(':delete'));

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}
