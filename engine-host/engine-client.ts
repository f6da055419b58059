/**
 * The TypeScript side of the engine protocol (workers/engine/PROTOCOL.md): spawns one Python engine process and
 * exchanges JSON lines with it. Requests are matched to responses by id; events stream to the caller.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../common/config.js';
import type { Logger } from '../common/logger.js';

export const ENGINE_PROTOCOL_VERSION = 1;

export interface EngineHello {
  protocol: number;
  engine_version: string;
  pid: number;
  device: string;
  dtype: string;
  python: string;
  packages: Record<string, string>;
}

export interface EngineEvent {
  event: string;
  data: Record<string, unknown>;
}

/** An error reported by the engine (or about it): `code` is the protocol's error code, `retryable` says who is at fault. */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly field?: string,
    /** On a CANCELLED answer to a cancel that asked for one: the checkpoint written at the step where the job stopped. */
    readonly checkpoint?: { path: string; step: number },
    /** What the engine found, machine-readable (for structure errors: the atom pair and distance, the bad cell tag, …). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export interface EngineOptions {
  python: string;
  /** Extra environment for the engine (e.g. MOFSIM_DEVICE, CUDA_VISIBLE_DEVICES). */
  env?: Record<string, string | undefined>;
  logger: Logger;
  /** How long the engine may take to print its hello line. @default 60000 ms */
  startTimeoutMs?: number;
}

interface Pending {
  resolve(data: unknown): void;
  reject(err: Error): void;
  onEvent?: (e: EngineEvent) => void;
}

/** One running engine process. Emits 'exit' (code, signal) once when the process ends. */
export class EngineClient extends EventEmitter {
  private readonly pending = new Map<string, Pending>();
  private exited = false;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly hello: EngineHello,
    private readonly logger: Logger,
  ) {
    super();
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Starts the engine and resolves once its handshake arrived. */
  static start(opts: EngineOptions): Promise<EngineClient> {
    const engineDir = join(repoRoot, 'workers', 'engine');
    const child = spawn(opts.python, ['-u', '-m', 'mofsim_engine'], {
      cwd: engineDir,
      env: { ...process.env, ...opts.env, PYTHONPATH: engineDir, PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const log = opts.logger.child({ engine_pid: child.pid });
    return new Promise((resolve, reject) => {
      let client: EngineClient | undefined;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new EngineError('ENGINE_START_TIMEOUT', 'engine did not say hello in time', true));
      }, opts.startTimeoutMs ?? 60_000);
      const stderr = createInterface({ input: child.stderr });
      // The engine logs JSON lines on stderr; keep their level so engine warnings and errors reach our logs.
      stderr.on('line', (line) => {
        let rec: { level?: string; msg?: string } | undefined;
        try { rec = JSON.parse(line); } catch { /* a plain line from a library */ }
        const level = rec?.level?.toUpperCase();
        const fields = rec ? { engine: rec } : { line };
        if (level === 'ERROR' || level === 'CRITICAL') log.error('engine', fields);
        else if (level === 'WARNING' && !String(rec?.msg ?? '').includes('UserWarning')) log.warn('engine', fields);
        else log.debug('engine', fields);
      });
      const stdout = createInterface({ input: child.stdout });
      stdout.on('line', (line) => {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line);
        } catch {
          log.warn('engine wrote a non-JSON line on stdout', { line: line.slice(0, 500) });
          return;
        }
        if (!client) {
          if (msg.type !== 'hello') return;
          clearTimeout(timer);
          const hello = msg as unknown as EngineHello;
          if (hello.protocol !== ENGINE_PROTOCOL_VERSION) {
            child.kill('SIGKILL');
            reject(new EngineError('ENGINE_PROTOCOL', `engine speaks protocol ${hello.protocol}, expected ${ENGINE_PROTOCOL_VERSION}`, false));
            return;
          }
          client = new EngineClient(child, hello, log);
          resolve(client);
          return;
        }
        client.dispatch(msg);
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        if (!client) reject(new EngineError('ENGINE_START_FAILED', `cannot start engine: ${err.message}`, true));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (!client) {
          reject(new EngineError('ENGINE_START_FAILED', `engine exited during start-up (code ${code}, signal ${signal})`, true));
          return;
        }
        client.onExit(code, signal);
      });
    });
  }

  private dispatch(msg: Record<string, unknown>): void {
    const id = String(msg.id ?? '');
    const p = this.pending.get(id);
    if (!p) return;
    if (msg.type === 'event') {
      p.onEvent?.({ event: String(msg.event), data: (msg.data ?? {}) as Record<string, unknown> });
    } else if (msg.type === 'response') {
      this.pending.delete(id);
      if (msg.ok) p.resolve(msg.data ?? {});
      else {
        const e = (msg.error ?? {}) as {
          code?: string; message?: string; retryable?: boolean; field?: string; checkpoint?: { path?: unknown; step?: unknown }; details?: unknown;
        };
        const ck = e.checkpoint && typeof e.checkpoint.path === 'string' && Number.isFinite(Number(e.checkpoint.step))
          ? { path: e.checkpoint.path, step: Number(e.checkpoint.step) } : undefined;
        const details = e.details && typeof e.details === 'object' && !Array.isArray(e.details) ? e.details as Record<string, unknown> : undefined;
        p.reject(new EngineError(e.code ?? 'ENGINE_ERROR', e.message ?? 'engine error', e.retryable ?? true, e.field, ck, details));
      }
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    const err = new EngineError('ENGINE_CRASHED', `engine process exited (code ${code}, signal ${signal})`, true);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    if (code === 0) this.logger.info('engine exited', { code });
    else this.logger.warn('engine exited', { code, signal });
    this.emit('exit', code, signal);
  }

  /** Sends one request; resolves with the response's data, rejects with an EngineError. */
  request<T = Record<string, unknown>>(op: string, fields: Record<string, unknown> = {}, onEvent?: (e: EngineEvent) => void): Promise<T> {
    if (this.exited) return Promise.reject(new EngineError('ENGINE_CRASHED', 'engine is not running', true));
    const id = randomUUID();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject, onEvent });
      this.child.stdin.write(JSON.stringify({ id, op, ...fields }) + '\n');
    });
  }

  /** Asks the engine to exit; kills it if it has not after `timeoutMs`. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.once('exit', () => r()));
    this.request('shutdown').catch(() => {});
    this.child.stdin.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await done;
    clearTimeout(t);
  }

  /** Kills the process at once (tests, and a supervisor giving up on a hung engine). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(signal);
  }
}
