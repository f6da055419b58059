/**
 * SIGINT / SIGTERM for a process that shuts down in order. Ctrl-C in a terminal signals the whole process group, and
 * tsx relays the signal it got to its child, so one stop can arrive two or three times, as SIGINT and SIGTERM: the
 * first starts the shutdown, the rest are ignored (a second `once` signal would take Node's default action and kill
 * the process halfway, leaving its children behind).
 */
export type ShutdownSignal = 'SIGINT' | 'SIGTERM';

export function onShutdownSignal(stop: (signal: ShutdownSignal) => void): void {
  let started = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (started) return;
      started = true;
      stop(sig);
    });
  }
}
