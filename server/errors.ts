/** One error hierarchy: services throw these; one middleware turns them into the envelope. */
export class AppError extends Error {
  constructor(
    /** HTTP status. */
    readonly status: number,
    /** Stable numeric code (see openapi/mofsim.yaml). */
    readonly code: number,
    /** Machine-readable reason, e.g. UNKNOWN_ELEMENT. */
    readonly type: string,
    message: string,
    /** The offending input field, when there is one. */
    readonly field?: string,
    /** Seconds the client should wait (sent as Retry-After on 429/503). */
    readonly retryAfter?: number,
    /** Machine-readable specifics sent as `error.details` (e.g. the overlapping atom pair and its distance). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (type: string, message: string, field?: string) => new AppError(400, 40000, type, message, field);
export const invalidStructure = (type: string, message: string, field = 'file', details?: Record<string, unknown>) =>
  new AppError(400, 40001, type, message, field, undefined, details);
export const invalidParameter = (message: string, field?: string, type = 'INVALID_PARAMETER') => new AppError(400, 40002, type, message, field);
export const modelNotFound = (name: string) => new AppError(404, 40401, 'MODEL_NOT_FOUND', `model not found: ${name}`, 'model');
export const taskNotFound = (id: string) => new AppError(404, 40402, 'TASK_NOT_FOUND', `task not found: ${id}`, 'task_id');
export const structureNotFound = (id: string, field = 'structure_id') => new AppError(404, 40403, 'STRUCTURE_NOT_FOUND', `structure not found: ${id}`, field);
export const fileNotFound = (what: string) => new AppError(404, 40404, 'FILE_NOT_FOUND', `not found: ${what}`);
export const resultNotReady = (status: string) => new AppError(409, 40901, 'RESULT_NOT_READY', `task is ${status}; its result is not available yet`);
export const fileTooLarge = (limitMb: number) => new AppError(413, 41300, 'FILE_TOO_LARGE', `upload exceeds the ${limitMb} MB limit`, 'file');
export const unsupportedElements = (model: string, missing: string[]) =>
  new AppError(422, 42203, 'UNSUPPORTED_ELEMENTS', `model ${model} does not cover element(s) ${missing.join(', ')}`, 'model');
export const unavailable = (type: string, message: string) => new AppError(503, 50301, type, message);

// Access: authentication, roles, rate limits and quotas.
export const unauthorized = (message = 'missing API key: send Authorization: Bearer <key> or X-API-Key') =>
  new AppError(401, 40101, 'UNAUTHORIZED', message);
export const invalidKey = () => new AppError(401, 40103, 'INVALID_API_KEY', 'invalid or revoked API key');
export const forbidden = (message = 'this endpoint needs an admin key') => new AppError(403, 40301, 'FORBIDDEN', message);
export const rateLimited = (retryAfter: number, message = 'rate limit exceeded') =>
  new AppError(429, 42901, 'RATE_LIMITED', message, undefined, retryAfter);
export const tooManyAuthFailures = (retryAfter: number) =>
  new AppError(429, 42903, 'TOO_MANY_AUTH_FAILURES', 'too many failed authentications from this address', undefined, retryAfter);
export const quotaExceeded = (message: string) => new AppError(429, 42902, 'QUOTA_EXCEEDED', message, undefined, 60);
export const conflict = (code: number, type: string, message: string, field?: string) => new AppError(409, code, type, message, field);
export const keyNotFound = (id: string) => new AppError(404, 40405, 'KEY_NOT_FOUND', `API key not found: ${id}`, 'key_id');
export const alertNotFound = (what: string, id: string) => new AppError(404, 40406, 'ALERT_NOT_FOUND', `${what} not found: ${id}`);
// Lifecycle: an action the task's current state does not allow.
export const invalidTaskState = (status: string, action: string) =>
  new AppError(409, 40902, 'INVALID_TASK_STATE', `cannot ${action} a task that is ${status}`, 'task_id');
export const workerNotFound = (id: string) => new AppError(404, 40407, 'WORKER_NOT_FOUND', `worker not found: ${id}`, 'worker_id');
// api parity: a task webhook resend that has nothing to send (type NO_CALLBACK, EVENT_NOT_SUBSCRIBED, CALLBACK_URL_REFUSED).
export const nothingToResend = (type: string, message: string) => new AppError(409, 40907, type, message, 'task_id');
// model load/unload: a targeted worker that cannot take the op now, or no worker for an untargeted load
// (type WORKER_UNAVAILABLE, NO_WORKER_AVAILABLE).
export const workerUnavailable = (type: string, message: string, field?: string) => new AppError(409, 40908, type, message, field);
export const noWorkerForGpu = (gpu: number) => new AppError(404, 40407, 'WORKER_NOT_FOUND', `no worker drives GPU ${gpu}`, 'gpu_id');
