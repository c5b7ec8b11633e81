/**
 * Typed errors. Handlers and drivers throw these; the error middleware (src/http/error-handler.ts)
 * is the one place that turns them into a status and a JSON body. `expose` says whether the
 * message may be shown to the client (Koa's convention); 5xx messages never are.
 */
export abstract class AppError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  get expose(): boolean {
    return this.status < 500;
  }
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** 400: the request is malformed (bad key, bad parameter). */
export class BadRequestError extends AppError {
  readonly status = 400;
  readonly code: string;
  constructor(message: string, code = 'bad_request') {
    super(message);
    this.code = code;
  }
}

/** 400: a storage key or artifact path failed validation. */
export class InvalidKeyError extends BadRequestError {
  constructor(message: string) {
    super(message, 'invalid_key');
  }
}

export class UnauthorizedError extends AppError {
  readonly status = 401;
  readonly code = 'unauthorized';
}

export class ForbiddenError extends AppError {
  readonly status = 403;
  readonly code = 'forbidden';
}

/** 404. Storage drivers throw it from read(); stat() returns null instead. */
export class NotFoundError extends AppError {
  readonly status = 404;
  readonly code = 'not_found';
}

export class MethodNotAllowedError extends AppError {
  readonly status = 405;
  readonly code = 'method_not_allowed';
}

/** 409: write-once conflict, the key already holds other content. */
export class ConflictError extends AppError {
  readonly status = 409;
  readonly code = 'conflict';
  constructor(
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export class LengthRequiredError extends AppError {
  readonly status = 411;
  readonly code = 'length_required';
}

/** 412 from storage: a conditional create found the key already present. */
export class AlreadyExistsError extends AppError {
  readonly status = 412;
  readonly code = 'already_exists';
}

export class PayloadTooLargeError extends AppError {
  readonly status = 413;
  readonly code = 'payload_too_large';
}

export class RangeNotSatisfiableError extends AppError {
  readonly status = 416;
  readonly code = 'range_not_satisfiable';
  constructor(
    message: string,
    readonly size: number,
  ) {
    super(message);
  }
}

/** 421: the Host header names no host this gateway serves. */
export class MisdirectedRequestError extends AppError {
  readonly status = 421;
  readonly code = 'misdirected_request';
}

/** 500: storage answered with something unexpected. */
export class StorageError extends AppError {
  readonly status = 500;
  readonly code = 'storage_error';
}

/** 503: storage could not be reached (connection refused, timeout, throttled). */
export class StorageUnavailableError extends AppError {
  readonly status = 503;
  readonly code = 'storage_unavailable';
}

/** 503: a trusted OIDC issuer's discovery document or keys could not be fetched; the token may be fine. */
export class IssuerUnavailableError extends AppError {
  readonly status = 503;
  readonly code = 'issuer_unavailable';
}
