/**
 * Origin labels: a pure, injective, DNS-safe function of the project (and, with ISOLATION=build,
 * the build): a readable prefix plus 16 base32 characters (80 bits) of SHA-256. Injectivity is
 * also enforced, not just likely: the label index (artifacts/store.ts) is written create-only and
 * refuses a second project on a label.
 */
import { createHash } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const PREFIX_MAX = 40;
const HASH_CHARS = 16;

function base32(bytes: Buffer, chars: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
    if (out.length === chars) break;
  }
  return out;
}

export function originLabel(project: string, build?: string): string {
  const input = build === undefined ? `project\0${project}` : `build\0${project}\0${build}`;
  const hash = base32(createHash('sha256').update(input).digest(), HASH_CHARS);
  const readable = (build === undefined ? project : `${build}-${project}`)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, PREFIX_MAX)
    .replace(/^-+|-+$/g, '');
  return readable ? `${readable}-${hash}` : hash;
}
