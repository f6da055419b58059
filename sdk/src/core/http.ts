/** The HTTP core: envelope unwrapping, typed errors, timeouts, AbortSignal, retries with backoff honouring Retry-After. */
import { APIConnectionError, APITimeoutError, errorFromResponse, MOFSimError } from './errors';

/**
 * How `task.wait()` and `task.events()` follow a task: `'websocket'` over the server's `/ws` only, `'poll'` over
 * `GET /tasks/{id}/events` only, `'auto'` over `/ws` and falling back to polling when the socket cannot connect,
 * is refused or keeps dropping.
 */
export type LiveEventsMode = 'auto' | 'websocket' | 'poll';

export interface ClientOptions {
  /** @default env MOFSIM_BASE_URL, else http://localhost:8000 */
  baseUrl?: string;
  /** @default env MOFSIM_API_KEY */
  apiKey?: string | null;
  /** Per-request timeout in seconds (Python: timeout). @default 30 */
  timeout?: number;
  /** Retries on 429, 5xx and network errors. @default 3 */
  maxRetries?: number;
  /** A fetch implementation (tests, proxies). @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Extra headers on every request (and on the live socket's upgrade request). */
  defaultHeaders?: Record<string, string>;
  /** Transport of live task events for `task.wait()` / `task.events()`. @default 'auto' */
  liveEvents?: LiveEventsMode;
  /** The live socket's URL. @default baseUrl with http→ws, https→wss, a trailing /api/v1 dropped, plus `/ws` */
  liveSocketUrl?: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined | null>;
  /** JSON body. */
  body?: unknown;
  /** Multipart body (uploads). */
  form?: FormData;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Seconds; overrides the client timeout. */
  timeout?: number;
  /** Retry even though the method is not idempotent (set when an Idempotency-Key makes it safe). */
  idempotent?: boolean;
  /** Return the raw Response instead of the envelope's data. */
  raw?: boolean;
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) return reject(signal.reason);
  const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
  // The listener goes when the sleep ends: a long-lived signal would otherwise collect one per retry.
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  signal?.addEventListener('abort', onAbort, { once: true });
});

const USER_AGENT = 'mofsim-sdk-ts/0.1.0';

// The server serves `/ws` next to `/api/v1`, so a base URL given with the API prefix (or behind a path prefix on a
// proxy) still finds it.
function liveSocketUrlFor(baseUrl: string): string {
  const u = new URL(baseUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = `${u.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}/ws`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

function env(name: string): string | undefined {
  return typeof process !== 'undefined' ? process.env?.[name] : undefined;
}

export class HttpCore {
  readonly baseUrl: string;
  readonly apiKey: string | null;
  readonly timeout: number;
  readonly maxRetries: number;
  readonly liveEvents: LiveEventsMode;
  private readonly liveSocketUrlOption?: string;
  private readonly fetchImpl: typeof fetch;
  private readonly defaultHeaders: Record<string, string>;

  constructor(opts: ClientOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? env('MOFSIM_BASE_URL') ?? 'http://localhost:8000').replace(/\/+$/, '').replace(/\/api\/v1$/, '');
    this.apiKey = opts.apiKey === undefined ? env('MOFSIM_API_KEY') ?? null : opts.apiKey;
    this.timeout = opts.timeout ?? 30;
    this.maxRetries = opts.maxRetries ?? 3;
    this.fetchImpl = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.defaultHeaders = opts.defaultHeaders ?? {};
    this.liveEvents = opts.liveEvents ?? 'auto';
    if (!['auto', 'websocket', 'poll'].includes(this.liveEvents)) throw new MOFSimError(`liveEvents must be 'auto', 'websocket' or 'poll' (got ${String(this.liveEvents)})`);
    this.liveSocketUrlOption = opts.liveSocketUrl;
  }

  /** Where the live socket connects (derived on use: a bad base URL fails the call, not the constructor). */
  get liveSocketUrl(): string { return this.liveSocketUrlOption ?? liveSocketUrlFor(this.baseUrl); }

  /** Headers for the live socket's upgrade request: the key as `X-API-Key`, as server/live-socket.ts documents. */
  liveSocketHeaders(): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...this.defaultHeaders };
    if (this.apiKey) headers['x-api-key'] = this.apiKey;
    return headers;
  }

  /** `/api/v1` is prefixed unless the path starts with `/api/` or is `/health` (as the Python client does). */
  url(path: string, query?: RequestOptions['query']): string {
    const p = path.startsWith('/api/') || path === '/health' ? path : `/api/v1${path.startsWith('/') ? '' : '/'}${path}`;
    const u = new URL(this.baseUrl + p);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** Sends a request and returns the envelope's `data` (typed by the caller). */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT, ...this.defaultHeaders, ...opts.headers };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let body: BodyInit | undefined;
    if (opts.form) body = opts.form;
    else if (opts.body !== undefined) { body = JSON.stringify(opts.body); headers['content-type'] = 'application/json'; }
    const idempotent = opts.idempotent ?? ['GET', 'HEAD', 'PUT', 'DELETE'].includes(method);
    const url = this.url(path, opts.query);
    for (let attempt = 0; ; attempt++) {
      const timeoutMs = (opts.timeout ?? this.timeout) * 1000;
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(new APITimeoutError(`request timed out after ${timeoutMs / 1000} s: ${method} ${path}`)), timeoutMs);
      const onAbort = () => ctl.abort(opts.signal!.reason);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      let res: Response;
      try {
        res = await this.fetchImpl(url, { method, headers, body, signal: ctl.signal });
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason ?? err;
        const reason = ctl.signal.aborted ? ctl.signal.reason : err;
        if (attempt < this.maxRetries && idempotent) { await sleep(this.backoff(attempt), opts.signal); continue; }
        if (reason instanceof MOFSimError) throw reason;
        throw new APIConnectionError(`cannot reach ${this.baseUrl}: ${(reason as Error)?.message ?? reason}`, reason);
      } finally {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      }
      // A 429 was not processed, so it is safe to retry for any method; 5xx only for idempotent requests.
      const retryable = res.status === 429 || (res.status >= 500 && idempotent);
      if (retryable && attempt < this.maxRetries) {
        const ra = Number(res.headers.get('retry-after'));
        await res.arrayBuffer().catch(() => undefined);
        await sleep(Number.isFinite(ra) && ra > 0 ? Math.min(ra, 60) * 1000 : this.backoff(attempt), opts.signal);
        continue;
      }
      if (opts.raw && res.ok) return res as unknown as T;
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
      if (!res.ok) throw errorFromResponse(res.status, parsed, res.headers);
      const envelope = parsed as { success?: boolean; data?: unknown } | null;
      return (envelope && typeof envelope === 'object' && 'success' in envelope ? envelope.data : parsed) as T;
    }
  }

  /** Exponential backoff with jitter: 0.5 s, 1 s, 2 s, … capped at 8 s. */
  private backoff(attempt: number): number {
    return Math.min(8000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
  }
}
