/** Polling for the integration tests: what the real stack does asynchronously (workers, webhooks, heartbeats). */

/** Resolves to the first truthy value `probe` returns; fails naming `what` after `ms` milliseconds. */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 60_000, everyMs = 200): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
