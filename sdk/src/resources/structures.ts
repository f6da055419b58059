/** Structures: upload (path, Buffer or stream), list, get, validate, details, download, delete, built-in suite. */
import { existsSync, promises as fs } from 'fs';
import { basename } from 'path';
import type { Readable } from 'stream';
import { Page, type PaginationInfo } from '../core/pagination';
import type { HttpCore } from '../core/http';
import type { BuiltinCatalogue, StructureDetails, StructureInfo, StructureValidation } from '../types';

/** What an upload accepts: a file path, bytes, or a readable stream. */
export type StructureSource = string | Buffer | Uint8Array | Readable | NodeJS.ReadableStream;

async function toBytes(src: StructureSource): Promise<Uint8Array> {
  if (typeof src === 'string') return fs.readFile(src);
  if (src instanceof Uint8Array) return src;
  const chunks: Buffer[] = [];
  for await (const c of src as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

export class Structures {
  constructor(private readonly http: HttpCore) {}

  /** Uploads a structure file; `filename` (needed for Buffers/streams: the extension names the format). */
  async upload(src: StructureSource, opts: { filename?: string; name?: string; signal?: AbortSignal } = {}): Promise<StructureInfo> {
    if (typeof src === 'string' && !existsSync(src)) throw new Error(`no such file: ${src}`);
    const filename = opts.filename ?? (typeof src === 'string' ? basename(src) : (src as { path?: string }).path ? basename(String((src as { path?: string }).path)) : 'structure.cif');
    const form = new FormData();
    const bytes = await toBytes(src);
    form.append('file', new Blob([new Uint8Array(bytes)]), filename);
    if (opts.name) form.append('name', opts.name);
    // Upload is idempotent on the server (content-addressed, same record for the same file and name).
    return this.http.request<StructureInfo>('POST', '/structures', { form, signal: opts.signal, idempotent: true });
  }

  /** A page of structures; iterate it with `for await` to walk every page. */
  async list(opts: { page?: number; pageSize?: number; isBuiltin?: boolean } = {}): Promise<Page<StructureInfo>> {
    const fetchPage = async (page: number): Promise<Page<StructureInfo>> => {
      const r = await this.http.request<{ items: StructureInfo[]; pagination: PaginationInfo }>('GET', '/structures', { query: { page, page_size: opts.pageSize, is_builtin: opts.isBuiltin } });
      return new Page(r.items, r.pagination, fetchPage);
    };
    return fetchPage(opts.page ?? 1);
  }

  get(id: string): Promise<StructureInfo> { return this.http.request('GET', `/structures/${encodeURIComponent(id)}`); }

  /** Deletes an uploaded structure (ConflictError while a task uses it). */
  async delete(id: string): Promise<boolean> {
    await this.http.request('DELETE', `/structures/${encodeURIComponent(id)}`);
    return true;
  }

  /**
   * Parses the stored file again (`{is_valid, errors, error_types, warnings}`). An unknown id, or another user's,
   * answers `is_valid: false` with "Structure not found" rather than an error. `id` may be a built-in name.
   */
  validate(id: string): Promise<StructureValidation> { return this.http.request('GET', `/structures/${encodeURIComponent(id)}/validate`); }

  /** Cell, volume, elements, source and the state of the stored file; `id` may be a built-in name (e.g. `calf`). */
  details(id: string): Promise<StructureDetails> { return this.http.request('GET', `/structures/${encodeURIComponent(id)}/details`); }

  /** The original file's bytes. */
  async download(id: string): Promise<Buffer> {
    const res = await this.http.request<Response>('GET', `/structures/${encodeURIComponent(id)}/download`, { raw: true });
    return Buffer.from(await res.arrayBuffer());
  }

  /** The shipped MOFSimBench sets (optionally one set, e.g. `essential`), with attribution. */
  builtin(opts: { set?: string } = {}): Promise<BuiltinCatalogue> {
    return this.http.request('GET', '/structures/builtin', { query: { set: opts.set } });
  }
}
