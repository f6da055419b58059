/**
 * Which failures are worth retrying. Bad input, missing weights and physics are never retried (retrying cannot
 * change the answer); a dead engine, a lost worker or an OOM are. Shared by activities and workflows (pure module).
 */
export const NON_RETRYABLE_ERROR_TYPES = [
  'PARSE_ERROR', 'EMPTY_STRUCTURE', 'UNKNOWN_ELEMENT', 'NO_CELL', 'OVERLAPPING_ATOMS', 'TOO_MANY_ATOMS',
  'UNSUPPORTED_FORMAT', 'UNKNOWN_MODEL', 'UNSUPPORTED_ELEMENTS', 'INVALID_PARAMETER', 'MODEL_UNAVAILABLE',
  'UNKNOWN_OP', 'UNKNOWN_TASK_TYPE', 'CANCELLED', 'TASK_NOT_FOUND', 'STRUCTURE_FILE_MISSING',
] as const;

export function isRetryableType(type: string): boolean {
  return !(NON_RETRYABLE_ERROR_TYPES as readonly string[]).includes(type);
}

/**
 * The one decision whether a failed attempt is retried: a lost attempt (its worker stopped heartbeating) always is;
 * otherwise the failure must not be marked non-retryable by whoever raised it, and its type must be worth retrying.
 */
export function isRetryableFailure(f: { type: string; nonRetryable?: boolean; lost?: boolean }): boolean {
  return f.lost === true || (!f.nonRetryable && isRetryableType(f.type));
}
