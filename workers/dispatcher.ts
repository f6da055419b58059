/**
 * Runs the scheduler's decisions in a worker process and tells the workflows what was decided. A decision runs when
 * a control activity changes the line or frees a slot (in that activity), in the transaction of a completed job that
 * gives its slot back (the engine activity; announced here), when a NOTIFY on the schedule channel
 * arrives (the API: submit, pause, cancel, priority; workers: join, drain), and on a slow sweep that also re-sends
 * grants whose decider died before signalling, marks silent workers offline, and starts workflows a batch
 * submission committed but did not start (its outbox). Decisions in several processes are serialised by Postgres.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type postgres from 'postgres';
import type { Config } from '../common/config.js';
import type { Db } from '../store/client.js';
import {
  abandonPreemption, leaveLine, markSignalled, releaseWorker, schedulePass, SCHEDULE_CHANNEL, unsignalledGrants, type Grant, type PassResult,
  type SchedulerPolicy,
} from '../store/scheduler.js';
import type { SystemLog } from '../store/system-logs.js';
import { logStaleWorkers, markStaleWorkersOffline } from '../store/worker-registry.js';
import { startPendingWorkflows, startTaskWorkflowWithSignal, waitingTask } from '../store/workflow-outbox.js';
import { preemptSignal, slotSignal } from '../workflows/task-workflow.js';

export interface DispatcherDeps {
  db: Db;
  /** The pool's raw client, for LISTEN. */
  sql?: postgres.Sql;
  client: Client;
  config: Config;
  policy: SchedulerPolicy;
  systemLog?: SystemLog;
  /** Seconds between sweeps. */
  sweepSeconds: number;
}

export interface Dispatcher {
  /** The policy its decisions follow (for a decision made inside another transaction, `decideIn`). */
  policy: SchedulerPolicy;
  /** Decides now and tells every granted workflow except `own` (whose grant is returned to the caller instead). */
  decide(own?: { taskId: string; seq: number }): Promise<Grant | null>;
  /** Tells the workflows what a decision made elsewhere (in a transaction that freed a slot) granted. */
  announce(r: PassResult): void;
  /** Asks for a decision soon (coalesced: calls while one runs lead to one more). */
  kick(): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function schedulerPolicy(config: Config): SchedulerPolicy {
  return {
    staleSeconds: config.MOFSIM_WORKER_STALE_S,
    backfillMaxBypass: config.MOFSIM_BACKFILL_MAX_BYPASS,
    backfillLookahead: config.MOFSIM_BACKFILL_LOOKAHEAD,
    fairShareWindowSeconds: config.MOFSIM_FAIR_SHARE_WINDOW_S,
  };
}

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const log = deps.systemLog?.as('scheduler', {});
  let running: Promise<unknown> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  let stopped = false;

  /**
   * A grant whose signal found no workflow: the task's workflow is started with it (or, started by the outbox in
   * the meantime, signalled) unless the task or its workflow has ended.
   */
  const startWith = async (g: Grant): Promise<'started' | 'ended'> => {
    const task = await waitingTask(deps.db, g.taskId);
    return task && (await startTaskWorkflowWithSignal(deps.db, deps.client, task, deps.config, slotSignal, [g])) ? 'started' : 'ended';
  };

  const tell = async (grants: Grant[]) => {
    const told: Grant[] = [];
    let freed = false;
    await Promise.all(grants.map(async (g) => {
      try {
        try {
          await deps.client.workflow.getHandle(g.taskId).signal(slotSignal, g);
        } catch (err) {
          // Tasks are in line from their insert, so a grant can come before the workflow's start (outbox).
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          if ((await startWith(g)) === 'ended') {
            // Its workflow has ended: nobody will take this slot, and the sweep would re-send it for ever.
            if (await leaveLine(deps.db, g)) freed = true;
            return;
          }
        }
        told.push(g);
      } catch {
        // Temporal or Postgres briefly away: the sweep tries again.
      }
    }));
    await markSignalled(deps.db, told);
    if (freed) kick();
  };

  const preempt = async (r: PassResult) => {
    for (const p of r.preemptions) {
      log?.info('scheduler', 'preempting a running job to make room for a waiting task', {
        taskId: p.taskId, workerId: p.workerId, extra: { for_task_id: p.forTaskId },
      });
      // The victim's workflow stops its job (checkpoint kept), frees the slot and requeues it behind the other.
      await deps.client.workflow.getHandle(p.taskId).signal(preemptSignal, { by: p.forTaskId }).catch(async (err) => {
        // An ended workflow holds nothing; otherwise the mark goes, so that a later decision may preempt again.
        if (err instanceof WorkflowNotFoundError) await releaseWorker(deps.db, p.taskId);
        else await abandonPreemption(deps.db, p.taskId);
        kick();
      });
    }
  };

  const announce = async (r: PassResult, mine: Grant | null = null) => {
    logStaleWorkers(log, r.markedOffline, deps.policy.staleSeconds);
    if (mine) await markSignalled(deps.db, [mine]);
    await tell(r.grants.filter((g) => g !== mine));
    await preempt(r);
    if (r.markedOffline.length) kick();
  };

  const decide = async (own?: { taskId: string; seq: number }): Promise<Grant | null> => {
    const r = await schedulePass(deps.db, deps.policy);
    const mine = own ? r.grants.find((g) => g.taskId === own.taskId && g.seq === own.seq) ?? null : null;
    await announce(r, mine);
    return mine;
  };

  const kick = () => {
    if (stopped) return;
    if (running) { again = true; return; }
    running = decide().catch(() => {}).finally(() => {
      running = undefined;
      if (again) { again = false; kick(); }
    });
  };

  // One sweep at a time: on a loaded machine one can outlast the interval, and overlapping ones would start the same
  // outbox workflows over and over.
  let sweeping = false;
  const sweep = async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      // Silent workers are marked (and logged) here too: a decision only looks at workers when someone waits.
      logStaleWorkers(log, await markStaleWorkersOffline(deps.db, deps.policy.staleSeconds), deps.policy.staleSeconds);
      await tell(await unsignalledGrants(deps.db, 2000));
      await startPendingWorkflows(deps.db, deps.client, deps.config, { olderThanMs: 5000 });
    } catch {
      // Postgres or Temporal briefly away: the next sweep tries again.
    } finally {
      sweeping = false;
    }
    kick();
  };

  return {
    policy: deps.policy,
    decide,
    announce: (r) => { announce(r).catch(() => {}); },
    kick,
    async start() {
      if (deps.sql) {
        const sub = await deps.sql.listen(SCHEDULE_CHANNEL, () => kick());
        unlisten = () => sub.unlisten();
      }
      timer = setInterval(() => { void sweep(); }, deps.sweepSeconds * 1000);
      timer.unref();
      kick();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await unlisten?.().catch(() => {});
      await running;
    },
  };
}
