/**
 * The viewer policy file: every mistake named with its place, and who the rules let see what
 * (groups, verified email domains and addresses; `*` one project path segment).
 */
import { mayView, parseViewerPolicy, personFrom, ViewerPolicyError } from '../../src/auth/viewer-policy';

function problems(doc: unknown): string[] {
  try {
    parseViewerPolicy(JSON.stringify(doc));
  } catch (err) {
    if (err instanceof ViewerPolicyError) return err.problems;
    throw err;
  }
  throw new Error('expected a ViewerPolicyError');
}

describe('the viewer policy', () => {
  const policy = parseViewerPolicy(
    JSON.stringify({
      groupsClaim: 'groups_direct',
      viewers: [
        { groups: ['acme-devs'], projects: ['acme/*'] },
        { emailDomains: ['Acme.com'], projects: ['acme/web', 'docs'] },
        { emails: ['auditor@example.org'], projects: ['acme/*/*'] },
      ],
    }),
  );
  const person = (claims: Record<string, unknown>) => personFrom({ sub: 's', ...claims }, policy.groupsClaim);

  it('lets in by group, by verified email domain or address, each for its own projects', () => {
    const dev = person({ groups_direct: ['acme-devs'] });
    expect(mayView(policy, dev, 'acme/web')).toBe(true);
    expect(mayView(policy, dev, 'acme/api')).toBe(true);
    expect(mayView(policy, dev, 'acme/team/api')).toBe(false); // * is one segment
    expect(mayView(policy, dev, 'other/web')).toBe(false);
    const staff = person({ email: 'bob@ACME.com', email_verified: true });
    expect(mayView(policy, staff, 'acme/web')).toBe(true);
    expect(mayView(policy, staff, 'acme/api')).toBe(false);
    expect(mayView(policy, person({ email: 'auditor@example.org', email_verified: true }), 'acme/team/api')).toBe(true);
  });

  it('ignores an email the provider did not verify, and groups under another claim name', () => {
    expect(mayView(policy, person({ email: 'eve@acme.com', email_verified: false }), 'acme/web')).toBe(false);
    expect(mayView(policy, person({ email: 'eve@acme.com' }), 'acme/web')).toBe(false);
    expect(mayView(policy, person({ groups: ['acme-devs'] }), 'acme/web')).toBe(false);
    expect(mayView(policy, person({ email: 'eve@notacme.com', email_verified: true }), 'acme/web')).toBe(false);
  });

  it('names every problem with its place', () => {
    expect(problems({ rules: [] })).toEqual(['expected {"viewers": [ ... ]} with at least one rule']);
    expect(
      problems({
        extra: 1,
        viewers: [{ group: ['x'], projects: ['acme/*'] }, { groups: ['x'] }, { emailDomains: ['@acme.com'], projects: ['acme/**'] }, 'nope'],
      }),
    ).toEqual([
      'unknown key "extra" at the top level',
      'viewers[0]: unknown key "group"',
      'viewers[0]: names nobody; give at least one of groups, emailDomains, emails',
      'viewers[1].projects: required, a non-empty list of project patterns',
      'viewers[2].emailDomains: "@acme.com" is not a domain such as acme.com',
      'viewers[2].projects: "acme/**" is not a project id, * matching one path segment (e.g. "acme/*")',
      'viewers[3]: expected {"groups" | "emailDomains" | "emails": [...], "projects": [...]}',
    ]);
    expect(() => parseViewerPolicy('{')).toThrow(/^not valid JSON/);
  });
});
