/**
 * `artifact-gateway serve`: reads the environment once, starts the gateway, and stops it cleanly
 * on SIGTERM/SIGINT (exit 0). A bad configuration exits 2 with one message naming every problem.
 */
import { loadOidcPolicy } from '../auth/oidc';
import { loadViewerLogin } from '../auth';
import { helpLines, loadConfig, type Config } from '../config';
import { createLogger } from '../http/logger';
import { startServer } from '../server';
import { helpOf, OPTIONS, parseCommand, runCommand } from './command';

const SPEC = {
  name: 'serve',
  usage: '',
  about: `Starts the gateway. Configuration comes from environment variables only:

${helpLines()}`,
  options: { help: OPTIONS.help },
};
export const SERVE_HELP = helpOf(SPEC);

export async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: Config | undefined;
  const code = await runCommand('serve', SERVE_HELP, args, async () => {
    // configuration is read from the environment only: no options besides --help
    parseCommand(SPEC, args);
    const loaded = loadConfig(env);
    // the policy file is read here too, so that a mistake in it is a configuration error (exit 2)
    if (loaded.oidc.policyFile !== undefined) await loadOidcPolicy(loaded.oidc.policyFile, loaded.jobTokens.issuer);
    // and the viewer policy and client secret file of people's sign-in
    if (loaded.viewerLogin !== undefined) await loadViewerLogin(loaded.viewerLogin);
    config = loaded;
    return 0;
  });
  if (config === undefined) return code;
  const logger = createLogger(config.logLevel);
  const running = await startServer(config, logger);
  const artifactExample = `${config.publicUrl.protocol}//<label>.${config.artifactDomain}${config.publicUrl.port ? `:${config.publicUrl.port}` : ''}`;
  logger.info(
    {
      listen: `http://${running.address.address}:${running.address.port}`,
      api: config.publicUrl.origin,
      artifacts: artifactExample,
      storage: config.storage.driver === 'fs' ? `fs at ${config.storage.dataDir}` : `s3 at ${config.storage.endpoint ?? 'AWS'}`,
    },
    `artifact-gateway serving: API on ${config.publicUrl.origin}, artifact origins on ${artifactExample}`,
  );

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        // a second signal means "now": cut what is still in flight
        logger.warn({ signal }, 'second signal: closing remaining connections');
        running.server.closeAllConnections();
        return;
      }
      stopping = true;
      logger.info({ signal }, 'signal received');
      running.stop().then(
        () => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          resolve(0);
        },
        (err) => {
          logger.error({ err }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
