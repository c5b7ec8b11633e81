/** Both drivers' reading of ReadOptions.range: one rule, checked before storage is asked. */
import { BadRequestError } from '../errors';
import type { ByteRange } from './storage';

export function checkByteRange(range: ByteRange): void {
  const { start, end } = range;
  if (!(Number.isSafeInteger(start) && start >= 0 && (end === undefined || (Number.isSafeInteger(end) && end >= start)))) {
    throw new BadRequestError(`invalid byte range ${JSON.stringify(range)}: start and end are whole numbers, 0 <= start <= end`, 'invalid_range');
  }
}
