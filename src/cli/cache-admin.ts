/**
 * What `cache list`, `cache delete` and `cache usage` share: a cache client for the project from
 * the command line's gateway options and `--retries`, and one rule for failure: a request the
 * gateway refuses, or that fails, prints its message (the token redacted) and exits 1. The client
 * is closed whatever happens.
 */
import { CacheFailure, createCacheClient, type CacheClient } from '../client';
import { gatewayOptions, wholeNumber, type Gateway } from './args';

export async function withCacheClient(
  command: string,
  values: { url?: string; token?: string; retries?: string },
  env: NodeJS.ProcessEnv,
  project: string,
  run: (client: CacheClient, gateway: Gateway) => Promise<number>,
): Promise<number> {
  const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
  const gateway = await gatewayOptions(values, env);
  const client = createCacheClient({ ...gateway, project, retries });
  try {
    return await run(client, gateway);
  } catch (err) {
    if (!(err instanceof CacheFailure)) throw err;
    process.stderr.write(gateway.redact(`artifact-gateway ${command}: ${err.message}\n`));
    return 1;
  } finally {
    client.close();
  }
}
