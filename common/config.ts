/** The one place that reads `process.env`: parsed once, validated, frozen. Every variable is in the README table. */
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const repoRoot = resolve(join(dirname(fileURLToPath(import.meta.url)), '..'));

const int = (def: number) => z.coerce.number().int().default(def);

const schema = z.object({
  PORT: int(8000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/mofsim'),
  MOFSIM_DATA_DIR: z.string().default(join(repoRoot, '.mofsim', 'data')),
  MOFSIM_MAX_UPLOAD_MB: z.coerce.number().positive().default(50),
  MOFSIM_MAX_ATOMS: int(10000),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  MOFSIM_TASK_QUEUE: z.string().default('mofsim.control'),
  /** Engine queues are `<prefix>.gpu.<host>.<index>` or `<prefix>.cpu.<worker id>`, one per worker. */
  MOFSIM_QUEUE_PREFIX: z.string().default('mofsim'),
  MOFSIM_PYTHON: z.string().default(join(repoRoot, '.venv', 'bin', 'python')),
  MOFSIM_DEVICE: z.string().optional(),
  /** The GPU this worker process drives; unset = a CPU worker. */
  MOFSIM_GPU_INDEX: z.string().regex(/^\d+$/).transform(Number).optional(),
  /** Seconds a task may run when its options.timeout is unset. */
  MOFSIM_DEFAULT_TASK_TIMEOUT_S: int(86400),
  MOFSIM_WORKER_ID: z.string().default(`${hostname()}-${process.pid}`),
  MOFSIM_ENGINE_MAX_JOBS: int(4),
  /** Engine memory a worker admits jobs into, MB; unset = 90 % of the GPU's memory, or 16000 on a CPU worker. */
  MOFSIM_ENGINE_MEMORY_BUDGET_MB: z.coerce.number().positive().optional(),
  /** Seconds between worker heartbeats into Postgres. */
  MOFSIM_WORKER_HEARTBEAT_S: z.coerce.number().positive().default(5),
  /** A worker whose last heartbeat is older than this many seconds is marked offline. */
  MOFSIM_WORKER_STALE_S: z.coerce.number().positive().default(15),
  /** Seconds without an engine-activity heartbeat before Temporal declares the attempt lost (dead worker). */
  MOFSIM_ACTIVITY_HEARTBEAT_TIMEOUT_S: z.coerce.number().positive().default(30),
  /** Only for task workflows started before decisions became event-driven: seconds between their scheduler asks. */
  MOFSIM_SCHEDULER_POLL_S: z.coerce.number().positive().default(2),
  /** Seconds between a worker's scheduler sweeps (lost signals, silent workers, unstarted batch workflows); decisions themselves are event-driven. */
  MOFSIM_SCHEDULER_SWEEP_S: z.coerce.number().positive().default(5),
  /** How many later tasks may start ahead of a head of line that fits nowhere (backfill), and how deep a backfill looks. */
  MOFSIM_BACKFILL_MAX_BYPASS: z.coerce.number().int().nonnegative().default(16),
  MOFSIM_BACKFILL_LOOKAHEAD: z.coerce.number().int().positive().default(64),
  /** The window of recent device use that fair share between owners weighs, seconds. */
  MOFSIM_FAIR_SHARE_WINDOW_S: z.coerce.number().positive().default(3600),
  /** The most tasks (models × structures × steps) one campaign may hold. */
  MOFSIM_CAMPAIGN_MAX_TASKS: int(20000),
  /** The shortest time between two `campaign.progress` events of one campaign, seconds (they also wait for 1 % more tasks to end). */
  MOFSIM_CAMPAIGN_PROGRESS_S: z.coerce.number().positive().default(10),
  /** Seconds a draining worker waits for its jobs to hand back before it kills its engine. */
  MOFSIM_DRAIN_TIMEOUT_S: z.coerce.number().positive().default(30),
  /** The nvidia-smi binary (tests point it at a recorded fake). */
  MOFSIM_NVIDIA_SMI: z.string().default('nvidia-smi'),
  /** Hosts (names or IPs, comma-separated) that webhooks may target although they are private or loopback. */
  /** Seconds between sweeps for task events whose webhook was never started (raised while no API listened). */
  MOFSIM_WEBHOOK_SWEEP_S: int(60),
  /** How far back (seconds) a sweep looks for such events. */
  MOFSIM_WEBHOOK_SWEEP_WINDOW_S: int(86400),
  MOFSIM_WEBHOOK_ALLOW_HOSTS: z.string().default('').transform((v) => v.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)),
  /** First retry delay of a failed webhook delivery, seconds (doubling, up to 1 h, for 24 h). */
  MOFSIM_WEBHOOK_RETRY_INITIAL_S: z.coerce.number().positive().default(5),
  /** Seconds one webhook POST may take. */
  MOFSIM_WEBHOOK_TIMEOUT_S: z.coerce.number().positive().default(10),
  /** Seconds between evaluations of the alert rules (the alert evaluator workflow). */
  MOFSIM_ALERT_INTERVAL_S: z.coerce.number().positive().default(30),
  /** Where transitions of alert rules with a `webhook` channel are POSTed (signed with MOFSIM_ALERT_WEBHOOK_SECRET); unset = none. */
  MOFSIM_ALERT_WEBHOOK_URL: z.string().url().optional(),
  MOFSIM_ALERT_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** Window of the `failure_rate_percent` alert metric, seconds. */
  MOFSIM_ALERT_FAILURE_WINDOW_S: int(900),
  /** CPU workers `npm start` runs on a machine without GPUs. */
  MOFSIM_CPU_WORKERS: int(1),
  /** Port of the embedded PostgreSQL that `npm start` runs when DATABASE_URL does not answer. */
  MOFSIM_EMBEDDED_PG_PORT: int(54329),
  MOFSIM_TEMPORAL_UI_PORT: int(8233),
  MOFSIM_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  MOFSIM_GIT_SHA: z.string().optional(),
  /** Development convenience: `npm start` ensures an admin API key with exactly this value exists. */
  MOFSIM_BOOTSTRAP_ADMIN_KEY: z.string().min(16).optional(),
  /** The key scripts (demo, keys) and the SDK use as clients. */
  MOFSIM_API_KEY: z.string().optional(),
  /** Failed authentications one client IP may make per window before it gets 429s. */
  MOFSIM_AUTH_FAIL_LIMIT: int(20),
  MOFSIM_AUTH_FAIL_WINDOW_S: int(300),
  /** Requests per minute of a new API key unless POST /keys says otherwise. */
  MOFSIM_DEFAULT_RATE_LIMIT: int(600),
  /** System log entries older than this many days are deleted (hourly by the API, or now by POST /system/logs/archive). */
  MOFSIM_SYSTEM_LOG_RETENTION_DAYS: z.coerce.number().positive().default(90),
  /** Seconds of silence after which a server-sent-event stream sends a comment line (keeps proxies from closing it). */
  MOFSIM_SSE_HEARTBEAT_S: z.coerce.number().positive().default(15),
  /** Seconds between the API's samples of the database-derived metrics (queue, workers, webhook backlog, disk). */
  MOFSIM_METRICS_SAMPLE_S: z.coerce.number().positive().default(5),
  /** Port of a worker process's `/metrics` (0: any free port, logged at start). */
  MOFSIM_WORKER_METRICS_PORT: int(9464),
  MOFSIM_WORKER_METRICS_HOST: z.string().default('0.0.0.0'),
  /** Read-only database role for Grafana's PostgreSQL datasource; the API creates/updates it at start when the password is set. */
  MOFSIM_GRAFANA_DB_USER: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).default('mofsim_grafana'),
  MOFSIM_GRAFANA_DB_PASSWORD: z.string().min(1).optional(),
  /** Trust X-Forwarded-For (behind a reverse proxy): `true`, a hop count, or unset. */
  MOFSIM_TRUST_PROXY: z.string().optional(),
});

export type Config = Readonly<z.infer<typeof schema>>;

/** Parses an environment (default: the process's) into a Config, listing every bad variable at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return Object.freeze(parsed.data);
}
