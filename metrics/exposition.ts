/** The `/metrics` answer: this process's registry, plus any extra exposition text (the Temporal SDK's exporter). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { registry } from './registry.js';

/** Extra exposition sources of this process (e.g. the Temporal runtime's Prometheus endpoint on loopback). */
const extras: (() => Promise<string>)[] = [];

/** Adds a source whose text is appended to every scrape; one that fails or is slow is left out of that scrape. */
export function addExpositionSource(fetchText: () => Promise<string>): void {
  extras.push(fetchText);
}

/** The content type of the answer. */
export const contentType = registry.contentType;

/** The full exposition text. */
export async function metricsText(): Promise<string> {
  const parts = await Promise.all([registry.metrics(), ...extras.map((f) => f().catch(() => ''))]);
  return parts.map((p) => (p.endsWith('\n') || p === '' ? p : `${p}\n`)).join('');
}

/** Whether a request is a scrape: `GET /metrics`, any query string. */
export function isScrape(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.url ?? '').split('?')[0] === '/metrics';
}

/** Answers a scrape on a bare Node response; resolves with the status sent. */
export async function answerScrape(res: ServerResponse): Promise<number> {
  try {
    const text = await metricsText();
    res.writeHead(200, { 'content-type': contentType }).end(text);
    return 200;
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String((err as Error)?.message ?? err)}\n`);
    return 500;
  }
}
