/**
 * The viewer policy (VIEWER_POLICY_FILE): which people, by the claims of their organisation's
 * OpenID provider, may view which private projects. JSON, read and checked whole at start like
 * the jobs' OIDC policy, every problem named with its place; a project pattern's `*` matches one
 * path segment, as there. A person is let in when any rule they match names the project.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config';
import { projectPattern } from '../ids';

/** What the gateway knows of a signed-in person: from the ID token, nothing else. */
export interface Person {
  subject: string;
  name?: string;
  /** Only an address the provider says it verified (email_verified: true). */
  email?: string;
  groups: string[];
}

export interface ViewerRule {
  groups: string[];
  emailDomains: string[];
  emails: string[];
  projects: RegExp[];
}

export interface ViewerPolicy {
  /** The ID token claim that lists a person's groups (`groups`; GitLab: `groups_direct`). */
  groupsClaim: string;
  rules: ViewerRule[];
}

const TOP_KEYS = new Set(['groupsClaim', 'viewers']);
const RULE_KEYS = new Set(['groups', 'emailDomains', 'emails', 'projects']);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v !== '' && !/[\u0000-\u001f\u007f]/.test(v);

/** The policy file's text as a checked policy; throws a list of every problem. */
export function parseViewerPolicy(text: string): ViewerPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ViewerPolicyError([`not valid JSON (${(err as Error).message})`]);
  }
  if (!isObject(doc) || !Array.isArray(doc.viewers) || doc.viewers.length === 0) {
    throw new ViewerPolicyError(['expected {"viewers": [ ... ]} with at least one rule']);
  }
  const problems: string[] = [];
  for (const key of Object.keys(doc)) if (!TOP_KEYS.has(key)) problems.push(`unknown key ${JSON.stringify(key)} at the top level`);
  if (doc.groupsClaim !== undefined && !isText(doc.groupsClaim)) problems.push('groupsClaim: expected a claim name');
  const rules = doc.viewers.map((raw, i) => parseRule(raw, `viewers[${i}]`, problems));
  if (problems.length > 0) throw new ViewerPolicyError(problems);
  return { groupsClaim: (doc.groupsClaim as string | undefined) ?? 'groups', rules: rules as ViewerRule[] };
}

function list(raw: unknown, at: string, what: string, problems: string[]): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || !raw.every(isText)) {
    problems.push(`${at}: expected a list of ${what}`);
    return [];
  }
  return raw;
}

function parseRule(raw: unknown, at: string, problems: string[]): ViewerRule | undefined {
  if (!isObject(raw)) {
    problems.push(`${at}: expected {"groups" | "emailDomains" | "emails": [...], "projects": [...]}`);
    return undefined;
  }
  for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) problems.push(`${at}: unknown key ${JSON.stringify(key)}`);
  const groups = list(raw.groups, `${at}.groups`, 'group names', problems);
  const emailDomains = list(raw.emailDomains, `${at}.emailDomains`, 'domains (acme.com)', problems).map((d) => d.toLowerCase());
  for (const d of emailDomains)
    if (d.includes('@') || !d.includes('.')) problems.push(`${at}.emailDomains: ${JSON.stringify(d)} is not a domain such as acme.com`);
  const emails = list(raw.emails, `${at}.emails`, 'email addresses', problems).map((e) => e.toLowerCase());
  for (const e of emails) if (!/^[^@\s]+@[^@\s]+$/.test(e)) problems.push(`${at}.emails: ${JSON.stringify(e)} is not an email address`);
  if (groups.length + emailDomains.length + emails.length === 0) {
    problems.push(`${at}: names nobody; give at least one of groups, emailDomains, emails`);
  }
  const patterns = list(raw.projects, `${at}.projects`, 'project patterns ("acme/*")', problems);
  if (raw.projects === undefined || patterns.length === 0) problems.push(`${at}.projects: required, a non-empty list of project patterns`);
  const projects: RegExp[] = [];
  for (const p of patterns) {
    const pattern = projectPattern(p);
    if (pattern) projects.push(pattern);
    else problems.push(`${at}.projects: ${JSON.stringify(p)} is not a project id, * matching one path segment (e.g. "acme/*")`);
  }
  return { groups, emailDomains, emails, projects };
}

export class ViewerPolicyError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'ViewerPolicyError';
  }
}

/** Whether any rule that names this person names the project. */
export function mayView(policy: ViewerPolicy, person: Person, project: string): boolean {
  const email = person.email?.toLowerCase();
  const domain = email?.slice(email.lastIndexOf('@') + 1);
  return policy.rules.some(
    (rule) =>
      (rule.groups.some((g) => person.groups.includes(g)) || (email !== undefined && (rule.emails.includes(email) || rule.emailDomains.includes(domain!)))) &&
      rule.projects.some((p) => p.test(project)),
  );
}

/** The person an ID token's claims describe, as the policy reads them. */
export function personFrom(claims: Record<string, unknown>, groupsClaim: string): Person {
  const groupsRaw = claims[groupsClaim];
  const groups = Array.isArray(groupsRaw) ? groupsRaw.filter((g): g is string => typeof g === 'string') : [];
  const verified = claims.email_verified === true || claims.email_verified === 'true';
  return {
    subject: String(claims.sub),
    name: typeof claims.name === 'string' ? claims.name : undefined,
    email: verified && typeof claims.email === 'string' ? claims.email : undefined,
    groups,
  };
}

/** Reads the file at start; a mistake is a ConfigError naming the variable, the file and the place. */
export async function loadViewerPolicy(file: string): Promise<ViewerPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`VIEWER_POLICY_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  try {
    return parseViewerPolicy(text);
  } catch (err) {
    if (err instanceof ViewerPolicyError) throw new ConfigError(err.problems.map((p) => `VIEWER_POLICY_FILE: ${file}: ${p}`));
    throw err;
  }
}
