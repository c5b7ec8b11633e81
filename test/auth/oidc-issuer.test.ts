/**
 * One issuer's keys over time (IssuerKeys), with a clock the test moves: the discovery document
 * is fetched once, refreshed after an hour in the background while the key set in hand keeps
 * serving, and a failing issuer is asked again at most once per cooldown, not on every request.
 */
import { IssuerKeys } from '../../src/auth/oidc-issuer';
import { IssuerUnavailableError } from '../../src/errors';
import { startIssuer, type TestIssuer } from '../support/oidc-issuer';

const HOUR = 60 * 60_000;
const settle = () => new Promise((r) => setTimeout(r, 100));

describe('IssuerKeys', () => {
  let issuer: TestIssuer;
  let clock: number;
  beforeEach(async () => {
    issuer = await startIssuer();
    clock = 1_000_000;
  });
  afterEach(() => issuer.close());
  const keys = () => new IssuerKeys(issuer.url, { timeoutMs: 1000, cooldownMs: 30_000, now: () => clock });

  it('discovers once, and refreshes a stale document in the background, serving the key set in hand meanwhile', async () => {
    const k = keys();
    const set = await k.keySet();
    await Promise.all([k.keySet(), k.keySet(), k.keySet()]);
    expect(issuer.counts.discovery).toBe(1);

    clock += HOUR;
    issuer.discovery = 'down';
    expect(await k.keySet()).toBe(set);
    await settle();
    expect(issuer.counts.discovery).toBe(2);
    // the refresh failed: not again on every request, only after the cooldown
    expect(await k.keySet()).toBe(set);
    await settle();
    expect(issuer.counts.discovery).toBe(2);
    clock += 30_000;
    issuer.discovery = 'ok';
    expect(await k.keySet()).toBe(set);
    await settle();
    expect(issuer.counts.discovery).toBe(3);
    clock += 1000;
    await k.keySet();
    await settle();
    expect(issuer.counts.discovery).toBe(3);
  });

  it('an issuer that never answered is asked again only after the cooldown; requests meanwhile get the same 503', async () => {
    issuer.discovery = 'down';
    const k = keys();
    await expect(k.keySet()).rejects.toThrow(IssuerUnavailableError);
    await expect(Promise.all([k.keySet(), k.keySet()])).rejects.toThrow(/answered 500/);
    expect(issuer.counts.discovery).toBe(1);
    issuer.discovery = 'ok';
    clock += 30_000;
    await expect(k.keySet()).resolves.toBeDefined();
    expect(issuer.counts.discovery).toBe(2);
  });
});
