/** The Express application: request ids, OpenAPI request validation, routes, one error middleware. */
import express, { type NextFunction, type Request, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import multer from 'multer';
import { randomBytes } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import { join } from 'node:path';
import { repoRoot } from '../common/config.js';
import type { ServerDeps } from './deps.js';
import { sendError } from './envelope.js';
import { refuseControlCharacters } from './input-hygiene.js';
import { isTimestamp } from '../common/timestamps.js';
import { TASK_TYPES } from '../common/task-types.js';

const SUBMIT_TYPES = Object.keys(TASK_TYPES);
import { AppError } from './errors.js';
import { authenticate } from './auth.js';
import { compatibility } from './compat.js';
import { alertsRouter } from './routes/alerts.js';
import { campaignsRouter } from './routes/campaigns.js';
import { healthRouter } from './routes/health.js';
import { keysRouter } from './routes/keys.js';
import { leaderboardRouter } from './routes/leaderboard.js';
import { plotsRouter } from './routes/plots.js';
import { systemRouter } from './routes/system.js';
import { modelsRouter } from './routes/models.js';
import { structuresRouter } from './routes/structures.js';
import { tasksRouter } from './routes/tasks.js';
import { usageRouter, workersRouter } from './routes/workers.js';
import { httpMetrics, routeTemplate, timeRequest } from '../metrics/http-metrics.js';
import { answerScrape, isScrape } from '../metrics/exposition.js';

export const apiSpecPath = join(repoRoot, 'openapi', 'mofsim.yaml');

interface ValidatorError {
  status?: number;
  errors?: { path?: string; message?: string; errorCode?: string }[];
  message?: string;
  type?: string;
  code?: string;
}

const HEADER_NAMES: Record<string, string> = { 'idempotency-key': 'Idempotency-Key', 'last-event-id': 'Last-Event-ID' };

// '/body/parameters/fmax' or '.body.parameters.fmax' → 'parameters.fmax'; a header keeps its documented spelling;
// an error about the body as a whole (`request must be object`) names `body`.
function fieldOf(path?: string): string | undefined {
  if (!path) return 'body';
  const header = /^[./]?headers[./](.+)$/.exec(path)?.[1];
  if (header) return HEADER_NAMES[header.toLowerCase()] ?? header;
  return path.replace(/^[./]?(body|query|params|path|headers)[./]?/, '').replace(/\//g, '.').replace(/^\./, '') || 'body';
}

/**
 * The API's HTTP request listener: `GET /metrics` is answered ahead of Express — no router, request id, request
 * log, key check, body parsing or OpenAPI validation; a scrape costs the render alone — and still timed in the HTTP
 * histogram (route `/metrics`). It is public, like /health: Prometheus scrapes without a key. Everything else goes
 * to the app.
 */
export function apiListener(app: ReturnType<typeof createApp>): RequestListener {
  return (req, res) => {
    if (!isScrape(req)) return app(req, res);
    const end = timeRequest('/metrics', 'GET');
    void answerScrape(res).then(end);
  };
}

/** Serves the app (with `/metrics` ahead of it) on `port` (0: any free one) and `host`. */
export function listenApi(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(apiListener(app));
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(server); });
  });
}

/** Builds the app around its dependencies (tests build one per suite). */
export function createApp(deps: ServerDeps) {
  const app = express();
  app.disable('x-powered-by');
  const trust = deps.config.MOFSIM_TRUST_PROXY;
  if (trust) app.set('trust proxy', /^\d+$/.test(trust) ? Number(trust) : trust === 'true' ? true : trust);
  app.set('etag', false);
  const log = deps.logger.child({ component: 'http' });
  app.use(httpMetrics());
  app.use((req, res, next) => {
    const incoming = req.get('X-Request-ID');
    const id = incoming && /^[\w.-]{1,100}$/.test(incoming) ? incoming : `req_${randomBytes(6).toString('hex')}`;
    res.locals.requestId = id;
    res.setHeader('X-Request-ID', id);
    const t0 = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      // The key's id, never key material (keys travel only in headers, which are not logged).
      // The full path as received (percent-encoded, so never a raw control character) and the route it matched.
      const path = req.originalUrl.split('?')[0];
      log.info('request', { request_id: id, key_id: res.locals.actor?.keyId, method: req.method, path, route: routeTemplate(req), status: res.statusCode, ms: Math.round(ms * 10) / 10 });
    });
    next();
  });
  app.use(authenticate(deps));
  app.use(express.json({ limit: '5mb' }));
  app.use(refuseControlCharacters);
  app.use(compatibility);
  app.use(OpenApiValidator.middleware({
    apiSpec: apiSpecPath,
    // Query, path and header values are always coerced from text; a JSON body is taken as typed ("fmax": true is
    // not 1, "max_steps": "5" is not 5).
    validateRequests: { coerceTypes: false, allowUnknownQueryParameters: false },
    formats: { 'date-time': { type: 'string', validate: isTimestamp } },
    validateResponses: false,
    // Keys are checked by server/auth.ts (before validation), which also rate-limits failures.
    validateSecurity: false,
    ignorePaths: /^\/(metrics|ws)/,
    fileUploader: {
      storage: multer.memoryStorage(),
      limits: { fileSize: Math.round(deps.config.MOFSIM_MAX_UPLOAD_MB * 1024 * 1024), files: 1 },
      // Browsers and fetch send UTF-8 file names without a charset parameter; busboy's default reads them as latin1.
      defParamCharset: 'utf8',
    },
  }));
  // Again once multipart fields and file names are parsed.
  app.use(refuseControlCharacters);

  app.use(healthRouter(deps));
  app.use('/api/v1/structures', structuresRouter(deps));
  app.use('/api/v1/tasks', tasksRouter(deps));
  app.use('/api/v1/campaigns', campaignsRouter(deps));
  app.use('/api/v1/models', modelsRouter(deps));
  app.use('/api/v1/system', systemRouter(deps));
  app.use('/api/v1/system', workersRouter(deps));
  app.use('/api/v1/usage', usageRouter(deps));
  app.use('/api/v1/alerts', alertsRouter(deps));
  app.use('/api/v1/keys', keysRouter(deps));
  app.use('/api/v1/leaderboard', leaderboardRouter(deps));
  app.use('/api/v1', plotsRouter(deps));

  app.use((req: Request, res: Response) => sendError(res, 404, 40400, 'NOT_FOUND', `no route for ${req.method} ${req.path}`));
  // Express 5 forwards rejected async handlers here.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof AppError) {
      if (err.retryAfter !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(err.retryAfter))));
      // A dependency that does not answer (engine, Temporal, database) is an operator's business.
      if (err.status >= 500) {
        deps.systemLog.warning('http', `${err.status} ${err.type}: ${err.message}`, { requestId: res.locals.requestId, extra: { method: req.method, path: req.path } });
      }
      return sendError(res, err.status, err.code, err.type, err.message, err.field, err.details);
    }
    const e = err as ValidatorError;
    if (e?.type === 'entity.parse.failed') return sendError(res, 400, 40000, 'INVALID_JSON', 'request body is not valid JSON', 'body');
    if (e?.type === 'entity.too.large') return sendError(res, 413, 41300, 'BODY_TOO_LARGE', 'request body is too large', 'body');
    // busboy's refusals of a broken multipart body (bad part headers, a truncated form) are the client's.
    if (/^(Malformed part header|Unexpected end of form|Multipart: Boundary not found|Malformed urlencoded form)/.test(String(e?.message ?? ''))) {
      return sendError(res, 400, 40000, 'INVALID_MULTIPART', `the multipart body cannot be read: ${e.message}`, 'file');
    }
    if (e?.code === 'LIMIT_FILE_SIZE' || e?.status === 413) {
      return sendError(res, 413, 41300, 'FILE_TOO_LARGE', `upload exceeds the ${deps.config.MOFSIM_MAX_UPLOAD_MB} MB limit`, 'file');
    }
    if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
      const first = e.errors?.[0];
      const field = fieldOf(first?.path);
      if (e.status === 404) return sendError(res, 404, 40400, 'NOT_FOUND', `no route for ${req.method} ${req.path}`);
      // POST /api/v1/tasks/<name> with a name that is no task type matches only the GET of a task id: a route that
      // does not exist, not a method the route lacks.
      if (e.status === 405 && req.method === 'POST' && /^\/api\/v1\/tasks\/[^/]+\/?$/.test(req.path)) {
        return sendError(res, 404, 40400, 'UNKNOWN_TASK_TYPE', `no task type ${decodeURIComponent(req.path.split('/')[4] ?? '').slice(0, 100)}; known: ${SUBMIT_TYPES.join(', ')}`, 'task_type');
      }
      if (e.status === 405) return sendError(res, 405, 40500, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}`);
      if (e.status === 415) return sendError(res, 415, 41500, 'UNSUPPORTED_MEDIA_TYPE', e.message ?? 'unsupported media type', 'body');
      const detail = first ? `${field ?? 'request'} ${first.message}` : e.message ?? 'invalid request';
      return sendError(res, 400, 40002, 'VALIDATION_ERROR', detail, field);
    }
    // Written to the JSON log as well, with the stack's top.
    deps.systemLog.error('http', `unhandled error: ${String((err as Error)?.message ?? err).slice(0, 200)}`, {
      requestId: res.locals.requestId,
      extra: { method: req.method, path: req.path, stack: String((err as Error)?.stack ?? '').split('\n').slice(0, 12).join('\n') },
    });
    return sendError(res, 500, 50000, 'INTERNAL_ERROR', 'internal error');
  });
  return app;
}
