/** fs errors as storage errors, for the fs driver. */
import { AppError, StorageError, StorageUnavailableError } from '../../errors';
import { codeOf } from './layout';

/** fs errors as storage errors; messages name the operation, never a path (the cause keeps it). */
export function fsError(err: unknown, op: string): AppError {
  if (err instanceof AppError) return err;
  const code = codeOf(err);
  const say = (why: string) => `fs storage: ${op} failed: ${why}`;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageError(say(`the disk or quota is full (${code})`), { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new StorageError(say(`permission denied (${code}); check who owns the root`), { cause: err });
    case 'EROFS':
      return new StorageError(say('the storage root is read-only'), { cause: err });
    case 'EMFILE':
    case 'ENFILE':
      return new StorageUnavailableError(say(`too many open files (${code})`), { cause: err });
    default:
      return new StorageError(say(code ?? 'unexpected error'), { cause: err });
  }
}
