/** The response envelope shared with the Python service: {success, code, message, data, error, timestamp, request_id}. */
import type { Response } from 'express';

export function requestId(res: Response): string {
  return String(res.locals.requestId ?? '');
}

/**
 * Sends a success envelope; `code` repeats the HTTP status as the Python service does. `top` adds fields beside
 * the envelope's own (health repeats `status` there, where the reference Python client reads it).
 */
export function sendData(res: Response, data: unknown, status = 200, message = 'ok', top: Record<string, unknown> = {}): void {
  res.status(status).json({
    ...top, success: true, code: status, message, data, error: null, timestamp: new Date().toISOString(), request_id: requestId(res),
  });
}

/** Sends an error envelope. */
export function sendError(
  res: Response, status: number, code: number, type: string, detail: string, field?: string, details?: Record<string, unknown>,
): void {
  res.status(status).json({
    success: false, code, message: detail, data: null,
    error: { type, detail, ...(field ? { field } : {}), ...(details ? { details } : {}) },
    timestamp: new Date().toISOString(), request_id: requestId(res),
  });
}
