/**
 * The OIDC policy (OIDC_POLICY_FILE): which CI issuers the gateway trusts, with which audience and
 * claim mapping, and which of their repositories may act as which project. Parsed and checked
 * whole at start, every problem named with its place in the file, so a typo is a refusal to start
 * rather than a rule that silently never matches. Matching a repository and a branch against the
 * policy's patterns is here too: nothing else decides who may act as what.
 */
import { ForbiddenError } from '../errors';
import { isScope, PROJECT_ID, SCOPES, type Scope } from '../ids';

export const MAPPINGS = ['github', 'gitlab', 'circleci', 'buildkite'] as const;
export type MappingName = (typeof MAPPINGS)[number];

/** Claim names for an issuer without a built-in mapping. */
export interface GenericMapping {
  repository: string;
  build: string;
  ref: string;
  protected?: string;
  pullRequest?: string;
  baseRef?: string;
}

/** Asymmetric algorithms only: `none` and HS* (a public key used as an HMAC secret) never. */
export const OIDC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

/**
 * What an OIDC job may do when its rule says nothing: upload artifacts, read and write caches.
 * Never `artifacts:delete`: a rule's `scopes` must name it, for the repositories (and so the jobs)
 * that are to clean up.
 */
export const DEFAULT_OIDC_SCOPES: readonly Scope[] = ['artifacts:write', 'cache:read', 'cache:write'];

export interface ProjectRule {
  /** The pattern as written, for messages. */
  repository: string;
  match: RegExp;
  project: string;
  defaultBranch: string;
  trustedBranches: RegExp[];
  scopes: ReadonlySet<Scope>;
}

export interface IssuerPolicy {
  issuer: string;
  audience: string[];
  mapping: MappingName | GenericMapping;
  algorithms: string[];
  projects: ProjectRule[];
}

export interface OidcPolicy {
  issuers: IssuerPolicy[];
}

export class PolicyError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'PolicyError';
  }
}

const ISSUER_KEYS = new Set(['issuer', 'audience', 'mapping', 'algorithms', 'defaultBranch', 'trustedBranches', 'scopes', 'projects']);
const RULE_KEYS = new Set(['repository', 'project', 'defaultBranch', 'trustedBranches', 'scopes']);
const GENERIC_KEYS = new Set(['repository', 'build', 'ref', 'protected', 'pullRequest', 'baseRef']);
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** The policy file's text as a checked policy, or PolicyError naming every problem. */
export function parsePolicy(text: string): OidcPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new PolicyError([`not valid JSON (${(err as Error).message})`]);
  }
  const problems: string[] = [];
  if (!isObject(doc) || !Array.isArray(doc.issuers) || doc.issuers.length === 0) {
    throw new PolicyError(['expected {"issuers": [ ... ]} with at least one issuer']);
  }
  for (const key of Object.keys(doc)) if (key !== 'issuers') problems.push(`unknown key ${JSON.stringify(key)} at the top level`);
  const issuers: IssuerPolicy[] = [];
  const seen = new Set<string>();
  doc.issuers.forEach((raw, i) => {
    const at = `issuers[${i}]`;
    const issuer = parseIssuer(raw, at, problems);
    if (!issuer) return;
    if (seen.has(issuer.issuer)) problems.push(`${at}: issuer ${issuer.issuer} is listed twice`);
    seen.add(issuer.issuer);
    issuers.push(issuer);
  });
  if (problems.length > 0) throw new PolicyError(problems);
  return { issuers };
}

function parseIssuer(raw: unknown, at: string, problems: string[]): IssuerPolicy | undefined {
  if (!isObject(raw)) {
    problems.push(`${at}: expected an object`);
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(raw)) if (!ISSUER_KEYS.has(key)) problems.push(`${at}: unknown key ${JSON.stringify(key)}`);
  const issuer = issuerUrl(raw.issuer, `${at}.issuer`, problems);
  const audience = typeof raw.audience === 'string' ? [raw.audience] : raw.audience;
  if (!Array.isArray(audience) || audience.length === 0 || !audience.every(isText)) {
    problems.push(`${at}.audience: required, a string or a list of strings (the aud the CI puts in tokens for this gateway)`);
  }
  const mapping = parseMapping(raw.mapping, `${at}.mapping`, problems);
  let algorithms: string[] = [...OIDC_ALGORITHMS];
  if (raw.algorithms !== undefined) {
    if (!Array.isArray(raw.algorithms) || raw.algorithms.length === 0) problems.push(`${at}.algorithms: expected a list`);
    else {
      algorithms = raw.algorithms as string[];
      for (const a of algorithms) {
        if (!(OIDC_ALGORITHMS as readonly unknown[]).includes(a)) {
          problems.push(`${at}.algorithms: ${JSON.stringify(a)} is not accepted (one of ${OIDC_ALGORITHMS.join(', ')})`);
        }
      }
    }
  }
  const defaults = {
    defaultBranch: branchName(raw.defaultBranch, `${at}.defaultBranch`, problems) ?? 'main',
    trustedBranches: raw.trustedBranches === undefined ? undefined : branchPatterns(raw.trustedBranches, `${at}.trustedBranches`, problems),
    scopes: raw.scopes === undefined ? new Set(DEFAULT_OIDC_SCOPES) : scopes(raw.scopes, `${at}.scopes`, problems),
  };
  const projects: ProjectRule[] = [];
  if (!Array.isArray(raw.projects) || raw.projects.length === 0) {
    problems.push(`${at}.projects: required, a non-empty list of {"repository": pattern, "project": name} rules`);
  } else {
    raw.projects.forEach((r, j) => {
      const rule = parseRule(r, `${at}.projects[${j}]`, defaults, problems);
      if (rule) projects.push(rule);
    });
  }
  if (problems.length > before) return undefined;
  return { issuer: issuer!, audience: audience as string[], mapping: mapping!, algorithms, projects };
}

function issuerUrl(raw: unknown, at: string, problems: string[]): string | undefined {
  if (!isText(raw)) {
    problems.push(`${at}: required, the issuer URL exactly as tokens carry it in iss`);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`${at}: ${JSON.stringify(raw)} is not a URL`);
    return undefined;
  }
  // keys fetched over plain http could be swapped by anyone on the path; loopback is for tests
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    problems.push(`${at}: must be an https URL (http only on a loopback host), got ${JSON.stringify(raw)}`);
  }
  if (url.search || url.hash || url.username || url.password) problems.push(`${at}: must not have a query, fragment or credentials`);
  return raw;
}

function parseMapping(raw: unknown, at: string, problems: string[]): MappingName | GenericMapping | undefined {
  if (typeof raw === 'string') {
    if ((MAPPINGS as readonly string[]).includes(raw)) return raw as MappingName;
    problems.push(`${at}: ${JSON.stringify(raw)} is not a built-in mapping (${MAPPINGS.join(', ')}), nor an object of claim names`);
    return undefined;
  }
  if (!isObject(raw)) {
    problems.push(`${at}: required, one of ${MAPPINGS.join(', ')} or an object of claim names`);
    return undefined;
  }
  for (const key of Object.keys(raw)) if (!GENERIC_KEYS.has(key)) problems.push(`${at}: unknown key ${JSON.stringify(key)}`);
  for (const key of GENERIC_KEYS) {
    const required = key === 'repository' || key === 'build' || key === 'ref';
    if ((required || raw[key] !== undefined) && !isText(raw[key])) problems.push(`${at}.${key}: expected a claim name`);
  }
  return raw as unknown as GenericMapping;
}

function parseRule(
  raw: unknown,
  at: string,
  defaults: { defaultBranch: string; trustedBranches?: RegExp[]; scopes: ReadonlySet<Scope> },
  problems: string[],
): ProjectRule | undefined {
  if (!isObject(raw)) {
    problems.push(`${at}: expected {"repository": pattern, "project": name}`);
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) problems.push(`${at}: unknown key ${JSON.stringify(key)}`);
  let match: RegExp | undefined;
  let stars = 0;
  if (!isText(raw.repository) || /[\u0000-\u001f\u007f]/.test(raw.repository)) {
    problems.push(`${at}.repository: required, the repository as the CI names it, * for one path segment (e.g. "acme/*")`);
  } else {
    stars = raw.repository.split('*').length - 1;
    if (/\*\*/.test(raw.repository)) problems.push(`${at}.repository: ** is not supported; * matches one path segment`);
    match = new RegExp(`^${raw.repository.split('*').map(escapeRegExp).join('([^/]+)')}$`);
  }
  if (!isText(raw.project)) problems.push(`${at}.project: required, the project id, {1} {2}… for what each * matched (e.g. "acme/{1}")`);
  else {
    for (const [, n] of raw.project.matchAll(/\{(\d+)\}/g)) {
      if (Number(n) < 1 || Number(n) > stars) problems.push(`${at}.project: {${n}} names no * of the repository pattern`);
    }
    if (!PROJECT_ID.test(raw.project.replace(/\{\d+\}/g, 'x'))) problems.push(`${at}.project: ${JSON.stringify(raw.project)} is not a valid project id`);
  }
  const defaultBranch = branchName(raw.defaultBranch, `${at}.defaultBranch`, problems) ?? defaults.defaultBranch;
  const trustedBranches =
    raw.trustedBranches === undefined
      ? (defaults.trustedBranches ?? [branchPattern(defaultBranch)])
      : branchPatterns(raw.trustedBranches, `${at}.trustedBranches`, problems);
  const ruleScopes = raw.scopes === undefined ? defaults.scopes : scopes(raw.scopes, `${at}.scopes`, problems);
  if (problems.length > before) return undefined;
  return { repository: raw.repository as string, match: match!, project: raw.project as string, defaultBranch, trustedBranches, scopes: ruleScopes };
}

function branchName(raw: unknown, at: string, problems: string[]): string | undefined {
  if (raw === undefined) return undefined;
  if (!isText(raw) || /[\u0000-\u001f\u007f*]/.test(raw)) {
    problems.push(`${at}: expected a branch name`);
    return undefined;
  }
  return raw;
}

function branchPatterns(raw: unknown, at: string, problems: string[]): RegExp[] {
  if (!Array.isArray(raw) || !raw.every((b) => isText(b) && !/[\u0000-\u001f\u007f]/.test(b))) {
    problems.push(`${at}: expected a list of branch names, * for any characters but / (e.g. ["main", "release/*"])`);
    return [];
  }
  return raw.map(branchPattern);
}

const branchPattern = (name: string): RegExp => new RegExp(`^${name.split('*').map(escapeRegExp).join('[^/]*')}$`);

function scopes(raw: unknown, at: string, problems: string[]): ReadonlySet<Scope> {
  if (!Array.isArray(raw) || !raw.every((s) => typeof s === 'string' && isScope(s))) {
    problems.push(`${at}: expected a list of scopes (${SCOPES.join(', ')})`);
    return new Set();
  }
  return new Set(raw);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The first rule whose pattern matches, with its project filled in; 403 naming the repository otherwise. */
export function projectFor(issuer: IssuerPolicy, repository: string): { rule: ProjectRule; project: string } {
  for (const rule of issuer.projects) {
    const m = rule.match.exec(repository);
    if (!m) continue;
    const project = rule.project.replace(/\{(\d+)\}/g, (_, n: string) => m[Number(n)]);
    if (!PROJECT_ID.test(project)) {
      throw new ForbiddenError(`repository ${JSON.stringify(repository)} maps to ${JSON.stringify(project)}, which is not a valid project id`);
    }
    return { rule, project };
  }
  throw new ForbiddenError(
    `repository ${JSON.stringify(repository)} of issuer ${issuer.issuer} is not allowed to use this gateway: no rule of the OIDC policy matches it`,
  );
}

export function isTrustedBranch(rule: ProjectRule, branch: string): boolean {
  return rule.trustedBranches.some((p) => p.test(branch));
}
