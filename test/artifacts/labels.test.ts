import { originLabel } from '../../src/artifacts/labels';
import { LABEL } from '../../src/hosts';

describe('origin labels', () => {
  it.each(['acme/web', 'Acme/Web', 'a', 'gh/some-org/some.repo_name', 'x'.repeat(100) + '/' + 'y'.repeat(100), '0/1'])(
    'gives %j a DNS-safe label of at most 63 characters',
    (project) => {
      const label = originLabel(project);
      expect(label).toMatch(LABEL);
      expect(label.length).toBeLessThanOrEqual(63);
      expect(originLabel(project)).toBe(label); // pure
    },
  );

  it('starts with a readable prefix of the project', () => {
    expect(originLabel('acme/web')).toMatch(/^acme-web-[a-z2-7]{16}$/);
  });

  it('gives distinct projects distinct labels, even when their readable prefixes are equal', () => {
    const projects = ['acme/web', 'acme-web', 'acme.web', 'Acme/Web', 'acme/web2', 'acme_web'];
    const labels = projects.map((p) => originLabel(p));
    expect(new Set(labels).size).toBe(projects.length);
    expect(labels.map((l) => l.slice(0, 8))).toEqual(['acme-web', 'acme-web', 'acme-web', 'acme-web', 'acme-web', 'acme-web']);
  });

  it('gives each build its own label under build isolation, distinct from the project label', () => {
    const main = originLabel('acme/web', '100');
    const pr = originLabel('acme/web', '101');
    expect(main).not.toBe(pr);
    expect(main).not.toBe(originLabel('acme/web'));
    expect(main).toMatch(/^100-acme-web-/);
  });

  it('keeps 10,000 generated project ids apart', () => {
    const labels = new Set(Array.from({ length: 10_000 }, (_, i) => originLabel(`org${i % 97}/repo-${i}`)));
    expect(labels.size).toBe(10_000);
  });
});
