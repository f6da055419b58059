/** A local webhook receiver for the integration tests: answers 200 and keeps every request it got. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook { headers: IncomingHttpHeaders; body: string }

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hook` (loopback: the stack must allow-list 127.0.0.1). */
  url: string;
  /** Requests in arrival order. */
  received: ReceivedHook[];
  close(): void;
}

/** Starts a receiver on a free loopback port. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { received.push({ headers: req.headers, body }); res.writeHead(200).end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, close: () => server.close() };
}
