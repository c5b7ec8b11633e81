/**
 * What `cache save` and `cache restore` read from the command line alike: the key, the directory
 * the cache paths are relative to, and sizes. Every problem is a UsageError (exit 2) that names the
 * option. The gateway URL and token rules are args.ts's gatewayOptions, shared with `upload`; the
 * paths' own rules are the client's (src/client/cache-paths.ts).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidKeyError } from '../errors';
import { toCacheKey } from '../storage/keys';
import { UsageError } from './command';

/** A key as the gateway will store it (NFC, <= 512 characters, no commas, no '..' segments). */
export function cacheKey(raw: string | undefined, option: string, prefix = false): string {
  if (raw === undefined || raw === '') throw new UsageError(`the option '--${option}' is required`);
  try {
    return toCacheKey(raw, { prefix });
  } catch (err) {
    if (err instanceof InvalidKeyError) throw new UsageError(`the option '--${option}': ${err.message}`);
    throw err;
  }
}

/** `--directory`: the directory cache paths are relative to (default: the current one). */
export async function rootDirectory(raw: string | undefined): Promise<string> {
  const root = resolve(raw ?? '.');
  const st = await stat(root).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new UsageError(`${raw === undefined ? 'the current directory' : `the option '--directory' (${JSON.stringify(raw)})`} is not a directory`);
  }
  return root;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A byte count: a whole number, optionally followed by K, M, G or T (powers of 1024, with or without "iB"). */
export function byteSize(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const m = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(value.trim());
  const n = m ? Number(m[1]) * UNITS[m[2].toLowerCase()] : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`the option '--${option}' expects a size in bytes, such as 10737418240, 512M or 10GiB, got ${JSON.stringify(value)}`);
  }
  return n;
}
