/**
 * `artifact-gateway gc`: one retention pass over the configured storage (cache TTL and quota,
 * artifact retention, orphaned uploads), then exit. Schedule it (cron, a CI schedule, a k8s
 * CronJob), or set GC_INTERVAL_MINUTES on one server instance instead.
 */
import { resolveSigningSecret } from '../auth/secret-file';
import { loadConfig } from '../config';
import { createLogger } from '../http/logger';
import { createMetrics } from '../http/metrics';
import { runGc } from '../retention/gc';
import { createStorage } from '../storage/create-storage';
import { defineCommand, OPTIONS } from './command';

export const gc = defineCommand(
  {
    name: 'gc',
    usage: '',
    about: `Runs one retention pass on the storage the environment configures (the same variables as
'serve'): deletes cache entries unused for CACHE_TTL_DAYS, evicts least recently used entries
above CACHE_QUOTA_BYTES per project, deletes artifacts older than ARTIFACT_RETENTION_DAYS, and
removes uploads that never completed. Every deletion is one audit log line on stdout; the
summary is the last line. Exit 0 on success, 1 on a storage error.`,
    options: { help: OPTIONS.help },
  },
  async (_parsed, env) => {
    const config = loadConfig(env);
    const logger = createLogger(config.logLevel);
    const { storage } = await createStorage(config, createMetrics(), await resolveSigningSecret(config), logger);
    try {
      const report = await runGc({ storage, config, logger });
      logger.info({ report }, 'gc finished');
      return 0;
    } finally {
      await storage.close();
    }
  },
);
