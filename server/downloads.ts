/**
 * Sends a stored file as a download: a Content-Type from its name, an attachment Content-Disposition with the
 * UTF-8 name (RFC 6266 / RFC 5987 `filename*`, by the `content-disposition` package Express uses), byte ranges
 * (a trajectory can be large). Data may live under a dot-folder (the default `.mofsim/data`), which Express's
 * `sendFile` refuses unless told to allow it; the paths come from the server's own records, never from a client.
 */
import type { Response } from 'express';
import { AppError, fileNotFound } from './errors.js';

// Structure formats that Express's MIME table (mime-types) does not know; the rest it maps by extension
// (.cif chemical/x-cif, .xyz chemical/x-xyz, .yaml text/yaml, unknown application/octet-stream).
const TEXT_STRUCTURES = /(^|[._-])(poscar|contcar)([._-]|$)|\.(vasp|extxyz)$/i;

/** Streams `path` as `downloadName`; a file that vanished from disk is a 404, not a 500. */
export function sendDownload(res: Response, path: string, downloadName: string, what: string): Promise<void> {
  if (TEXT_STRUCTURES.test(downloadName)) res.type('text/plain');
  else res.type(downloadName.includes('.') ? downloadName : 'bin');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  return new Promise((resolve, reject) => {
    res.download(path, downloadName, { dotfiles: 'allow', acceptRanges: true, cacheControl: false }, (err) => {
      if (!err) return resolve();
      if (res.headersSent) return resolve();
      res.removeHeader('Content-Type');
      res.removeHeader('Content-Disposition');
      const e = err as NodeJS.ErrnoException & { status?: number; headers?: Record<string, string> };
      if (e.status === 416) {
        if (e.headers?.['Content-Range']) res.setHeader('Content-Range', e.headers['Content-Range']);
        return reject(new AppError(416, 41600, 'RANGE_NOT_SATISFIABLE', `the requested range is outside ${what}`, 'range'));
      }
      reject(e.code === 'ENOENT' || e.status === 404 ? fileNotFound(what) : err);
    });
  });
}
