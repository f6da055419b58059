/** What routes and services need, built once in server/main.ts (tests build their own). */
import type { Client } from '@temporalio/client';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import type { EngineSupervisor } from '../engine-host/engine-supervisor.js';
import type { Database } from '../store/client.js';
import type { SystemLog } from '../store/system-logs.js';
import type { LiveEvents } from './services/live-events.js';

export interface ServerDeps {
  config: Config;
  database: Database;
  /** A CPU engine used for parsing uploads and listing models; never runs jobs. */
  engine: EngineSupervisor;
  temporal: Client;
  logger: Logger;
  startedAt: Date;
  /** Task events pushed from Postgres NOTIFY (SSE, WebSocket, webhooks). */
  liveEvents: LiveEvents;
  /** Notable operational events of this API process (source `api`), stored in `system_logs`. */
  systemLog: SystemLog;
}
