/**
 * The fs driver's root secret when SIGNING_SECRET is not set: made once, kept beside the data
 * (mode 0600), so restarts, the `token`/`ticket` commands and other processes on the same
 * DATA_DIR agree on it. Created with O_EXCL, so two processes starting together share one secret.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Config } from '../config';

export async function resolveSigningSecret(config: Pick<Config, 'signingSecret' | 'signingSecretFile'>): Promise<Buffer> {
  if (config.signingSecret) return config.signingSecret;
  const file = config.signingSecretFile;
  if (!file) throw new Error('no SIGNING_SECRET and no secret file configured');
  await mkdir(dirname(file), { recursive: true });
  try {
    await writeFile(file, randomBytes(32).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const text = (await readFile(file, 'utf8')).trim();
  if (text.length < 32) throw new Error(`${file} holds no usable secret (expected >= 32 characters)`);
  return Buffer.from(text, 'utf8');
}
