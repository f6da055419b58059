/** Typed errors mirroring the Python SDK (`mofsim_client.exceptions`); every API error carries status, code, requestId. */

/** Base of every SDK error (Python: MOFSimError). */
export class MOFSimError extends Error {
  /** Stable numeric code from the error envelope (e.g. 40402), when the server sent one. */
  readonly code?: number | string;
  readonly details?: unknown;
  constructor(message: string, opts: { code?: number | string; details?: unknown } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = opts.code;
    this.details = opts.details;
  }
}

/** An HTTP error answer (Python: APIError). */
export class APIError extends MOFSimError {
  readonly status: number;
  readonly requestId?: string;
  /** Machine-readable reason (`error.type`), e.g. UNKNOWN_ELEMENT. */
  readonly type?: string;
  /** The offending input field (`error.field`). */
  readonly field?: string;
  readonly headers?: Headers;
  constructor(message: string, opts: { status: number; code?: number; type?: string; field?: string; requestId?: string; details?: unknown; headers?: Headers }) {
    super(message, opts);
    this.status = opts.status;
    this.type = opts.type;
    this.field = opts.field;
    this.requestId = opts.requestId;
    this.headers = opts.headers;
  }
  get statusCode(): number { return this.status; }
}

export class BadRequestError extends APIError {}
/** 401: no key, unknown key or revoked key. */
export class AuthenticationError extends APIError {}
/** 403: the key may not do this (admin endpoints). */
export class AuthorizationError extends APIError {}
/** 404 of any resource. */
export class NotFoundError extends APIError {}
export class TaskNotFoundError extends NotFoundError {}
export class ModelNotFoundError extends NotFoundError {}
export class StructureNotFoundError extends NotFoundError {}
/** 409: conflicts with the resource state (result not ready, task already started or finished, structure in use). */
export class ConflictError extends APIError {}
/** 413: upload too large. */
export class PayloadTooLargeError extends APIError {}
/** 400 parameter errors and 422 (Python: ValidationError). */
export class ValidationError extends APIError {}
/** 429: rate limit or quota; `retryAfter` in seconds. */
export class RateLimitError extends APIError {
  get retryAfter(): number | undefined {
    const v = this.headers?.get('retry-after');
    return v ? Number(v) : undefined;
  }
}
/** 5xx. */
export class ServerError extends APIError {}

/** The server could not be reached or did not answer in time (Python: ConnectionError). */
export class APIConnectionError extends MOFSimError {
  constructor(message: string, readonly cause?: unknown) { super(message); }
}
export { APIConnectionError as ConnectionError };
/** The per-request timeout elapsed. */
export class APITimeoutError extends APIConnectionError {}

/** A task ended FAILED (raised by `task.wait()`). */
export class TaskFailedError extends MOFSimError {
  constructor(readonly taskId: string, readonly errorMessage: string | null, readonly errorType?: string | null) {
    super(`task ${taskId} failed${errorType ? ` (${errorType})` : ''}: ${errorMessage ?? 'no message'}`);
  }
}
/** A wait ran out of time, or the task ended TIMEOUT. */
export class TaskTimeoutError extends MOFSimError {
  constructor(readonly taskId: string, readonly timeout: number) {
    super(`task ${taskId} did not finish within ${timeout} s`);
  }
}
/** A task ended CANCELLED. */
export class TaskCancelledError extends MOFSimError {
  constructor(readonly taskId: string) { super(`task ${taskId} was cancelled`); }
}
/** `getResult()` on a task that has not finished. */
export class TaskNotCompletedError extends MOFSimError {
  constructor(readonly taskId: string, readonly status: string) { super(`task ${taskId} is ${status}; no result yet`); }
}

interface Envelope { code?: number; message?: string; request_id?: string; error?: { type?: string; detail?: string; field?: string } | null }

/** Maps an error answer onto the class a Python user expects (status → class table in the README). */
export function errorFromResponse(status: number, body: unknown, headers: Headers): APIError {
  const env = (body && typeof body === 'object' ? body : {}) as Envelope;
  const message = env.error?.detail ?? env.message ?? (typeof body === 'string' && body ? body.slice(0, 200) : `HTTP ${status}`);
  const opts = { status, code: env.code, type: env.error?.type, field: env.error?.field, requestId: env.request_id ?? headers.get('x-request-id') ?? undefined, details: body, headers };
  if (status === 401) return new AuthenticationError(message, opts);
  if (status === 403) return new AuthorizationError(message, opts);
  if (status === 404) {
    const t = env.error?.type ?? '';
    if (t === 'TASK_NOT_FOUND') return new TaskNotFoundError(message, opts);
    if (t === 'MODEL_NOT_FOUND') return new ModelNotFoundError(message, opts);
    if (t === 'STRUCTURE_NOT_FOUND') return new StructureNotFoundError(message, opts);
    return new NotFoundError(message, opts);
  }
  if (status === 409) return new ConflictError(message, opts);
  if (status === 413) return new PayloadTooLargeError(message, opts);
  if (status === 400 || status === 422) return new ValidationError(message, opts);
  if (status === 429) return new RateLimitError(message, opts);
  if (status >= 500) return new ServerError(message, opts);
  return new APIError(message, opts);
}
