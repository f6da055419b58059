/** Keeps one engine process alive for a worker: starts it, restarts it after a crash, stops it on shutdown. */
import type { Logger } from '../common/logger.js';
import type { SystemLog } from '../store/system-logs.js';
import { EngineClient, type EngineOptions } from './engine-client.js';

export class EngineSupervisor {
  private current?: Promise<EngineClient>;
  private up?: EngineClient;
  private startError?: string;
  private stopping = false;
  private restarts = 0;

  constructor(
    private readonly opts: EngineOptions,
    private readonly logger: Logger,
    /** Where crashes, restarts and failed starts are recorded (`system_logs`). */
    private readonly systemLog?: SystemLog,
  ) {}

  /** Engine processes restarted after an unexpected exit, since this supervisor started. */
  get restartCount(): number {
    return this.restarts;
  }

  /**
   * `starting` while an engine is being started (the first start, or a restart after a crash) and none is up;
   * `failing` when the last start failed (the next `get()` tries again); `up` once one answers; `idle` before the
   * first `get()` or after `stop()`.
   */
  get state(): { state: 'idle' | 'starting' | 'up' | 'failing'; error?: string } {
    if (this.up) return { state: 'up' };
    if (this.startError) return { state: 'failing', error: this.startError };
    return { state: this.current ? 'starting' : 'idle' };
  }

  /** The running engine; starts (or restarts) one when needed. */
  get(): Promise<EngineClient> {
    if (!this.current) this.current = this.launch();
    return this.current;
  }

  /** The current engine if one is up, without starting it. */
  async peek(): Promise<EngineClient | undefined> {
    return this.current?.catch(() => undefined);
  }

  private async launch(): Promise<EngineClient> {
    try {
      const engine = await EngineClient.start(this.opts);
      this.up = engine;
      this.startError = undefined;
      this.logger.info('engine ready', { pid: engine.pid, device: engine.hello.device, restarts: this.restarts });
      if (this.restarts > 0) this.systemLog?.info('engine', 'engine restarted', { extra: { pid: engine.pid, device: engine.hello.device, restarts: this.restarts } });
      engine.once('exit', (code: number | null, signal: string | null) => {
        this.current = undefined;
        this.up = undefined;
        if (this.stopping) return;
        this.restarts += 1;
        // Restart eagerly so the next job does not pay the start-up; back off a little on crash loops.
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.restarts, 6));
        this.systemLog?.error('engine', 'engine exited unexpectedly; restarting', {
          extra: { pid: engine.pid, code, signal, restarts: this.restarts, restart_in_s: delay / 1000 },
        });
        setTimeout(() => { if (!this.stopping && !this.current) this.get().catch(() => {}); }, delay).unref();
      });
      return engine;
    } catch (err) {
      this.current = undefined;
      this.startError = String((err as Error).message ?? err);
      if (!this.stopping) this.systemLog?.error('engine', 'engine failed to start', { extra: { error: String((err as Error).message ?? err), restarts: this.restarts } });
      throw err;
    }
  }

  /** Stops the engine for good. */
  async stop(): Promise<void> {
    this.stopping = true;
    const engine = await this.peek();
    await engine?.close();
  }
}
