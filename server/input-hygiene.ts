/**
 * Refuses control characters in any request input before anything reads it: the path, query names and values,
 * JSON body keys and strings, multipart fields and file names. NUL cannot be stored in a PostgreSQL text column, and
 * escape sequences (ANSI) in a name would reach terminals through logs. Tab, line feed and carriage return are
 * allowed inside values (descriptions, free text) but not in names.
 */
import type { NextFunction, Request, Response } from 'express';
import { badRequest } from './errors.js';

// C0 controls except tab/LF/CR, DEL, and the C1 controls (U+0080–U+009F, e.g. CSI U+009B): matching control
// characters is the point of these two patterns.
/* eslint-disable no-control-regex */
const IN_VALUES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const IN_NAMES = /[\u0000-\u001f\u007f-\u009f]/;
/* eslint-enable no-control-regex */
const MAX_DEPTH = 32;

const refuse = (field: string, where: string) =>
  badRequest('INVALID_CHARACTERS', `${where} contains a control character (U+0000–U+001F, U+007F–U+009F), which is not accepted`, field);

/** Throws INVALID_CHARACTERS naming the first offending field of `value` (keys and strings, at any depth). */
export function checkValue(value: unknown, field: string, depth = 0): void {
  if (typeof value === 'string') {
    if (IN_VALUES.test(value)) throw refuse(field, field);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (depth > MAX_DEPTH) throw badRequest('TOO_DEEP', `${field} is nested more than ${MAX_DEPTH} levels deep`, field);
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkValue(v, `${field}[${i}]`, depth + 1));
    return;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const name = field ? `${field}.${k}` : k;
    // The key is reported escaped: the raw name is exactly what must not travel on.
    if (IN_NAMES.test(k)) throw refuse(field ? `${field}.${JSON.stringify(k).slice(1, -1)}` : JSON.stringify(k).slice(1, -1), 'a key name');
    checkValue(v, name, depth + 1);
  }
}

/** The middleware (mounted before and after multipart parsing, so uploads' fields are checked too). */
export function refuseControlCharacters(req: Request, _res: Response, next: NextFunction): void {
  let path: string;
  try { path = decodeURIComponent(req.path); } catch { throw badRequest('INVALID_PATH', 'the path is not valid percent-encoded UTF-8', 'path'); }
  if (IN_NAMES.test(path)) throw refuse('path', 'the path');
  for (const [k, v] of Object.entries(req.query as Record<string, unknown>)) {
    if (IN_NAMES.test(k)) throw refuse(JSON.stringify(k).slice(1, -1), 'a query parameter name');
    checkValue(v, k);
  }
  if (req.body && typeof req.body === 'object') checkValue(req.body, '');
  for (const f of (req.files ?? []) as Express.Multer.File[]) {
    if (IN_NAMES.test(f.originalname)) throw refuse(f.fieldname || 'file', 'the file name');
  }
  next();
}
