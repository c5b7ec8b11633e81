/**
 * Metrics as a wrapper around any driver (gitlab-pages' vfs.Instrumented), so drivers carry no
 * instrumentation code of their own. Not-found and already-exists are normal outcomes, not errors.
 */
import { AlreadyExistsError, AppError, NotFoundError } from '../errors';
import type { Metrics } from '../http/metrics';
import type { Storage } from './storage';

export function instrumentStorage(inner: Storage, metrics: Metrics): Storage {
  const driver = inner.driver;
  function timed<A extends unknown[], R>(operation: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      const end = metrics.storageDuration.startTimer({ driver, operation });
      try {
        const result = await fn(...args);
        end({ outcome: result === null ? 'not_found' : 'ok' });
        return result;
      } catch (err) {
        if (err instanceof NotFoundError) end({ outcome: 'not_found' });
        else if (err instanceof AlreadyExistsError) end({ outcome: 'exists' });
        else {
          end({ outcome: 'error' });
          metrics.storageErrors.inc({ driver, operation, code: err instanceof AppError ? err.code : 'unknown' });
        }
        throw err;
      }
    };
  }
  return {
    driver,
    stat: timed('stat', (b, k) => inner.stat(b, k)),
    read: timed('read', async (b, k, o) => {
      const result = await inner.read(b, k, o);
      // counted until the body closes, however it ends (read to the end, failed, or destroyed)
      metrics.storageReadsOpen.inc({ driver });
      result.body.once('close', () => metrics.storageReadsOpen.dec({ driver }));
      return result;
    }),
    write: timed('write', (b, k, body, o) => inner.write(b, k, body, o)),
    delete: timed('delete', (b, k) => inner.delete(b, k)),
    list: timed('list', (b, p, o) => inner.list(b, p, o)),
    listPrefixes: timed('listPrefixes', (b, p, o) => inner.listPrefixes(b, p, o)),
    presignGet: timed('presignGet', (b, k, o) => inner.presignGet(b, k, o)),
    presignPut: timed('presignPut', (b, k, o) => inner.presignPut(b, k, o)),
    createMultipartUpload: timed('createMultipartUpload', (b, k) => inner.createMultipartUpload(b, k)),
    presignUploadPart: timed('presignUploadPart', (b, k, u, n, o) => inner.presignUploadPart(b, k, u, n, o)),
    completeMultipartUpload: timed('completeMultipartUpload', (b, k, u, p) => inner.completeMultipartUpload(b, k, u, p)),
    removeAbandonedWrites: timed('removeAbandonedWrites', (before) => inner.removeAbandonedWrites(before)),
    abortMultipartUpload: timed('abortMultipartUpload', (b, k, u) => inner.abortMultipartUpload(b, k, u)),
    ping: timed('ping', () => inner.ping()),
    close: () => inner.close(),
  };
}
