/**
 * THE mapping from S3 SDK and network errors to the app's typed errors, for the s3 driver.
 */
import { AlreadyExistsError, AppError, NotFoundError, StorageError, StorageUnavailableError } from '../../errors';

/**
 * Missing -> NotFound (object reads only: a missing bucket is a misconfiguration), 412 ->
 * AlreadyExists, cannot reach or throttled -> StorageUnavailable (503), anything else ->
 * StorageError (500). Typed errors and the caller's own AbortError pass through. Messages name the
 * operation, the S3 error code and status: never request headers or credentials.
 */
export function s3Error(err: unknown, op: string, where: string): Error {
  if (err instanceof AppError) return err;
  // by name: Node's own AbortError may come from another realm (jest's), where instanceof fails
  if ((err as { name?: unknown } | null)?.name === 'AbortError') return err as Error;
  const status = statusOf(err);
  const code = codeOf(err);
  if (status === 404 && code !== 'NoSuchBucket' && (op === 'GetObject' || op === 'HeadObject')) {
    return new NotFoundError(`${where} does not exist`);
  }
  if (status === 412) return new AlreadyExistsError(`${where} already exists`);
  const what = `S3 ${op} ${where} failed: ${code}${status ? ` (HTTP ${status})` : ''}`;
  if (UNAVAILABLE_STATUS.has(status ?? 0) || UNAVAILABLE_CODES.has(code)) {
    // a network error's text says where it could not connect: "connect ECONNREFUSED 127.0.0.1:9"
    const detail = status ? '' : `: ${String((err as Error).message).replace(WRAPPER, '')}`;
    return new StorageUnavailableError(what + detail, { cause: err });
  }
  return new StorageError(what, { cause: err });
}

const UNAVAILABLE_STATUS = new Set([502, 503, 504]);
const UNAVAILABLE_CODES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
  'S3_RESPONSE_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * The SDK replaces an error that fails `instanceof Error`, such as Node's own socket errors seen
 * from another realm (jest's test context), by a new Error with this text and the original's
 * message, dropping its `code`.
 */
const WRAPPER = /^AWS SDK error wrapper for (Error: )?/;

type SdkErrorShape = {
  $metadata?: { httpStatusCode?: number };
  Code?: string;
  code?: string;
  name?: string;
  message?: unknown;
  errors?: unknown[];
};

export function statusOf(err: unknown): number | undefined {
  return (err as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

export function codeOf(err: unknown): string {
  const e = (err ?? {}) as SdkErrorShape;
  // a Node system error has `code`; the SDK's TimeoutError only a name; an AggregateError (every
  // address of a host refused) carries the code of its parts; a wrapped one only its text
  const nested = Array.isArray(e.errors) ? (e.errors[0] as SdkErrorShape | undefined)?.code : undefined;
  const inText = typeof e.message === 'string' ? /\b(E[A-Z_]{4,})\b/.exec(e.message)?.[1] : undefined;
  const wrapped = inText && UNAVAILABLE_CODES.has(inText) ? inText : undefined;
  return e.Code ?? e.code ?? nested ?? wrapped ?? e.name ?? 'UnknownError';
}
