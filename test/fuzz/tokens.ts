/**
 * Forged, mutated and random JWTs for the token properties: each family is built around one
 * real token minted by the app, so mutations stay close to something that verifies.
 */
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { headerValue } from './arbitraries';

const b64u = (v: string | Buffer) => Buffer.from(v).toString('base64url');
const parts = (jwt: string) => jwt.split('.');
const json = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;

/** A JWT with the given header and claims, signed (HS256/HS384/HS512) with `key`, or unsigned. */
export function craft(header: Record<string, unknown>, claims: Record<string, unknown>, key?: Buffer): string {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const alg = String(header.alg);
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  if (!key || !hash) return `${input}.`;
  return `${input}.${createHmac(hash, key).update(input).digest('base64url')}`;
}

/**
 * Tokens that must never verify where `valid` does: the same claims unsigned (alg none), with
 * another algorithm, with each claim that matters changed, expired, or signed with `otherKeys`.
 */
export function forgeriesOf(
  valid: string,
  key: Buffer,
  otherKeys: Buffer[],
  /** Claims that make a token invalid even when signed with the right key. */
  invalidating: Array<Record<string, unknown>>,
  /** Claims changed after signing (the signature no longer matches). */
  tampered: Array<Record<string, unknown>>,
): string[] {
  const [h, p] = parts(valid) as [string, string, string];
  const header = json(h);
  const claims = json(p);
  const now = Math.floor(Date.now() / 1000);
  const out = [
    craft({ ...header, alg: 'none' }, claims),
    craft({ alg: 'none' }, claims),
    `${h}.${p}.`,
    `${h}.${p}`,
    craft({ ...header, alg: 'HS512' }, claims, key),
    craft({ ...header, alg: 'HS384' }, claims, key),
    craft({ ...header, alg: 'RS256' }, claims, key),
    craft({ ...header, alg: 'HS256', crit: ['b64'], b64: false }, claims, key),
    craft(header, { ...claims, exp: now - 3600 }, key),
    craft(header, { ...claims, exp: undefined }, key),
    craft(header, { ...claims, exp: String(now + 3600) }, key),
    craft(header, { ...claims, iss: undefined }, key),
    craft(header, { ...claims, aud: 'someone-else' }, key),
    craft(header, { ...claims, aud: [] }, key),
    ...otherKeys.map((k) => craft(header, claims, k)),
    ...invalidating.map((c) => craft(header, { ...claims, ...c }, key)),
    ...[...invalidating, ...tampered].map((c) => `${h}.${b64u(JSON.stringify({ ...claims, ...c }))}.${parts(valid)[2]}`),
  ];
  return out;
}

/** `valid` changed a little: truncated, a character replaced, inserted or removed, parts swapped. */
export function mutationsOf(valid: string, others: string[]): fc.Arbitrary<string> {
  const alphabet = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ %'];
  const at = fc.nat(valid.length - 1);
  const ch = fc.constantFrom(...alphabet);
  const [h, p, s] = parts(valid) as [string, string, string];
  return fc.oneof(
    at.map((i) => valid.slice(0, i)),
    fc.tuple(at, ch).map(([i, c]) => valid.slice(0, i) + c + valid.slice(i + 1)),
    fc.tuple(at, ch).map(([i, c]) => valid.slice(0, i) + c + valid.slice(i)),
    at.map((i) => valid.slice(0, i) + valid.slice(i + 1)),
    fc.constantFrom(`${p}.${h}.${s}`, `${h}.${h}.${s}`, `${h}.${p}.${s}.${s}`, `${h}..${p}.${s}`, `${h}.${p}.${s}=`, `${valid} `, ` ${valid}`),
    fc.tuple(fc.constantFrom(...others), fc.nat(2)).map(([o, i]) => {
      const mixed = parts(valid);
      mixed[i] = parts(o)[i] ?? '';
      return mixed.join('.');
    }),
  );
}

/** Random token-shaped strings and random header-safe strings. */
export const garbageToken: fc.Arbitrary<string> = fc.oneof(
  fc
    .array(
      fc.uint8Array({ maxLength: 40 }).map((b) => b64u(Buffer.from(b))),
      { minLength: 1, maxLength: 4 },
    )
    .map((p) => p.join('.')),
  headerValue(80),
  fc.constant(b64u(randomBytes(64))),
);

/**
 * Whether `candidate` is `valid` itself: the signed header and claims character for character,
 * and a signature that decodes to the same bytes (base64url has spare bits, and jose decodes
 * with Buffer, which skips padding and characters outside the alphabet).
 */
export function sameToken(valid: string, candidate: string | undefined): boolean {
  if (candidate === undefined) return false;
  const [h, p, s] = parts(valid);
  const c = parts(candidate);
  return c.length === 3 && c[0] === h && c[1] === p && Buffer.from(c[2], 'base64url').equals(Buffer.from(s, 'base64url'));
}
