/** A loopback port nobody listens on now (for an internal listener whose port must be chosen before it binds). */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

export async function freeLoopbackPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
