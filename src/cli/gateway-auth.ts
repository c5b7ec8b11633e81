/**
 * The gateway's keys read from the environment exactly as `serve` reads them, so that a token or
 * ticket minted by `artifact-gateway token|ticket` verifies on a server started with the same
 * environment. Apart from args.ts because the runner client (cli/client.ts) must not bundle it.
 */
import { access } from 'node:fs/promises';
import { createAuth, type Auth } from '../auth';
import { resolveSigningSecret } from '../auth/secret-file';
import type { Config } from '../config';

/**
 * The server's keys for a configuration read with loadConfig(env). With the fs driver and no
 * SIGNING_SECRET the secret lives in DATA_DIR/.signing-secret; when this command is the first to
 * need it, it is made here (as serve would), with a warning, because a server started on another
 * DATA_DIR will not accept what is signed with it.
 */
export async function gatewayAuth(command: string, config: Config): Promise<Auth> {
  const file = config.signingSecret ? undefined : config.signingSecretFile;
  const existed =
    file === undefined ||
    (await access(file).then(
      () => true,
      () => false,
    ));
  const secret = await resolveSigningSecret(config);
  if (!existed) {
    process.stderr.write(
      `artifact-gateway ${command}: warning: made a new signing secret in ${file}; ` +
        'only a gateway using this DATA_DIR (or SIGNING_SECRET) will accept what this command signs\n',
    );
  }
  return createAuth(config, secret);
}
