/** HTTP request latency of the API by route template (never the raw path: ids would make labels unbounded). */
import type { NextFunction, Request, Response } from 'express';
import { Histogram } from 'prom-client';
import { registry } from './registry.js';

const requestDuration = new Histogram({
  name: 'mofsim_http_request_duration_seconds',
  help: 'API request latency by Express route template, method and status',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

/** The route template a finished request matched (`/api/v1/tasks/:id`), or `unmatched` (404s, refused early). */
export function routeTemplate(req: Request): string {
  const path = req.route?.path;
  return typeof path === 'string' ? `${req.baseUrl ?? ''}${path}` : 'unmatched';
}

/** Times every request; Express keeps `req.route` and `req.baseUrl` of the matched route until the response ends. */
export function httpMetrics() {
  return (req: Request, res: Response, next: NextFunction) => {
    const end = requestDuration.startTimer();
    res.on('finish', () => end({ route: routeTemplate(req), method: req.method, status: String(res.statusCode) }));
    next();
  };
}

/** Times a request answered outside Express (the API's `/metrics`), under its fixed route. */
export function timeRequest(route: string, method: string): (status: number) => void {
  const end = requestDuration.startTimer({ route, method });
  return (status) => { end({ status: String(status) }); };
}
