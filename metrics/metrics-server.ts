/** A worker's metrics port: a bare HTTP server answering `GET /metrics` (a worker has no Express app). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerScrape, isScrape } from './exposition.js';

/** Serves `/metrics` on `host:port` (port 0: any free port); resolves with the server and the port it got. */
export async function startMetricsServer(host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (!isScrape(req)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    void answerScrape(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
