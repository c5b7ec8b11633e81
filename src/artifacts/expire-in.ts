/**
 * `expire_in` on an upload, in GitLab's duration syntax (its `artifacts:expire_in`): `42` (seconds),
 * `30 mins`, `3 mins 4 sec`, `2 hrs 20 min`, `2h20min`, `6 mos 1 day`, `47 yrs 6 mos and 4d`,
 * `3 weeks and 2 days`, `never`. GitLab reads it with chronic_duration, whose month is 30 days and
 * year 365; so here.
 *
 * Written here, not taken from npm: `ms` reads one unit only; `timestring` refuses GitLab's own
 * examples (`6 mos`, `and`, a bare number); `parse-duration` is ESM-only and reads
 * `3 days banana` as three days, and a typo in a retention setting must be a 400, not a guess.
 */
import { BadRequestError } from '../errors';

const SECOND = 1000;
const UNITS: Array<[RegExp, number]> = [
  [/^(s|secs?|seconds?)$/, SECOND],
  [/^(m|mins?|minutes?)$/, 60 * SECOND],
  [/^(h|hrs?|hours?)$/, 3600 * SECOND],
  [/^(d|days?)$/, 86_400 * SECOND],
  [/^(w|wks?|weeks?)$/, 7 * 86_400 * SECOND],
  [/^(mo|mos|mons?|months?|mths?)$/, 30 * 86_400 * SECOND],
  [/^(y|yrs?|years?)$/, 365 * 86_400 * SECOND],
];
/** A hundred years: longer is a typo (and `never` says forever). */
export const EXPIRE_IN_MAX_MS = 100 * 365 * 86_400 * SECOND;
const TEXT_MAX = 100;

/** Milliseconds, or null for `never`; BadRequestError (invalid_expire_in) saying what was wrong. */
export function parseExpireIn(text: string): number | null {
  const bad = (why: string) =>
    new BadRequestError(
      `expire_in ${JSON.stringify(text.slice(0, TEXT_MAX))} ${why} (GitLab's syntax: "30 mins", "3 days", "1 week", "2h20min", "6 mos 1 day", or "never")`,
      'invalid_expire_in',
    );
  if (text.length > TEXT_MAX) throw bad(`is longer than ${TEXT_MAX} characters`);
  const words = text.trim().toLowerCase();
  if (words === 'never') return null;
  if (/^\d+(\.\d+)?$/.test(words)) return finite(Number(words) * SECOND);
  const tokens = words.replace(/,/g, ' ').replace(/\band\b/g, ' ');
  const parts = [...tokens.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]+)/g)];
  // every character must belong to a number-unit pair: `3 days banana` is refused, not three days
  if (parts.length === 0 || tokens.replace(/(\d+(?:\.\d+)?)\s*([a-z]+)/g, '').trim() !== '') throw bad('is not a duration');
  let ms = 0;
  for (const [, amount, unit] of parts) {
    const found = UNITS.find(([names]) => names.test(unit));
    if (!found) throw bad(`has an unknown unit ${JSON.stringify(unit)}`);
    ms += Number(amount) * found[1];
  }
  return finite(ms);

  function finite(ms: number): number {
    if (!(ms >= SECOND)) throw bad('is shorter than a second');
    if (ms > EXPIRE_IN_MAX_MS) throw bad('is longer than 100 years (say "never" to keep the files until they are deleted)');
    return Math.round(ms);
  }
}

/**
 * When files uploaded at `nowMs` with this `expire_in` expire: an ISO time, null for `never`, or
 * undefined when none was given (then ARTIFACT_RETENTION_DAYS applies).
 */
export function expiresAtFor(expireIn: unknown, nowMs: number): string | null | undefined {
  if (expireIn === undefined) return undefined;
  if (typeof expireIn !== 'string') throw new BadRequestError('expire_in must be given once', 'invalid_expire_in');
  const ms = parseExpireIn(expireIn);
  return ms === null ? null : new Date(nowMs + ms).toISOString();
}
