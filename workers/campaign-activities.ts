/**
 * The campaign workflow's activities (control queue): start its tasks, reuse cached results, cancel, pause, finish,
 * and the campaign's events (throttled progress, its end) with their webhook deliveries.
 */
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { and, asc, eq, inArray, isNull, notInArray, sql } from 'drizzle-orm';
import { existsSync } from 'node:fs';
import { alias } from 'drizzle-orm/pg-core';
import { TERMINAL_STATUSES } from '../common/task-types.js';
import type { Db } from '../store/client.js';
import { cacheKeyFor, findCached, reuseResult, type ResolveRun, type ResolvedRun } from '../store/result-cache.js';
import { appendCampaignEvent, campaignCounts, lastProgress, progressDue, progressOf, runEnded, writeRunEnd } from '../store/campaign-events.js';
import { campaignEvents, campaigns, tasks, type CampaignRow, type TaskRow } from '../store/schema.js';
import { startTaskWorkflow } from '../store/workflow-outbox.js';
import type { Config } from '../common/config.js';
import { finish, releaseToLine } from '../store/task-state.js';
import { structureFromTaskOutput, taskOutputPath } from '../store/task-output-structure.js';
import { cancelSignal, pauseSignal, resumeSignal } from '../workflows/task-workflow.js';
import type { CampaignWebhookInput } from '../workflows/webhook-workflow.js';

export interface CampaignDeps {
  db: Db;
  dataDir: string;
  config: Config;
  /** The engine's `resolve` op (effective parameters, weights hash, engine version) for cache keys. */
  resolve: ResolveRun;
  /** Scores a finished campaign from its tasks (MOFSimBench metrics vs DFT); absent = no scores stored. */
  scoreCampaign?: (db: Db, campaignId: string) => Promise<object>;
}

export interface CampaignLook {
  status: string;
  counts: Record<string, number>;
  /** Every task ended. */
  finished: boolean;
  /** More tasks are ready to start than one look starts. */
  more: boolean;
}

const TERMINAL = [...TERMINAL_STATUSES] as string[];

/** Signals many task workflows, a few at a time; a workflow that is gone is skipped (its row is handled by the caller). */
async function signalAll(client: Client, ids: string[], signal: SignalDefinition<[]>): Promise<Set<string>> {
  const failed = new Set<string>();
  for (let i = 0; i < ids.length; i += 20) {
    Context.current().heartbeat();
    await Promise.all(ids.slice(i, i + 20).map((id) => client.workflow.getHandle(id).signal(signal).catch(() => { failed.add(id); })));
  }
  return failed;
}

export function createCampaignActivities(deps: CampaignDeps) {
  const { db } = deps;

  /**
   * Starts the webhook delivery of every event of the campaign that its callback subscribes to and that has none
   * yet (id `campaign-webhook-<event id>`, so a retried activity never delivers one twice). Called by every activity
   * that writes events, after its writes: a crash between an event and its dispatch delays the webhook, never loses it.
   */
  async function dispatchEvents(campaignId: string): Promise<void> {
    const pending = await db.select({ id: campaignEvents.id }).from(campaignEvents)
      .where(and(eq(campaignEvents.campaignId, campaignId), eq(campaignEvents.webhook, true), isNull(campaignEvents.dispatchedAt)))
      .orderBy(asc(campaignEvents.id)).limit(100);
    if (!pending.length) return;
    const client = Context.current().client;
    for (const { id } of pending) {
      const input: CampaignWebhookInput = { campaignEventId: id, retryInitialSeconds: deps.config.MOFSIM_WEBHOOK_RETRY_INITIAL_S };
      await client.workflow.start('webhookWorkflow', {
        taskQueue: deps.config.MOFSIM_TASK_QUEUE, workflowId: `campaign-webhook-${id}`, args: [input], workflowIdReusePolicy: 'REJECT_DUPLICATE',
      }).catch((err) => { if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; });
      await db.update(campaignEvents).set({ dispatchedAt: new Date() }).where(eq(campaignEvents.id, id));
    }
  }

  /** A progress event when the throttle allows one (store/campaign-events.ts: progressDue). */
  async function noteProgress(c: CampaignRow, counts: Record<string, number>, ended: number): Promise<void> {
    const previous = await lastProgress(db, c.id);
    if (!progressDue(previous, ended, c.totalTasks, new Date(), deps.config.MOFSIM_CAMPAIGN_PROGRESS_S)) return;
    await appendCampaignEvent(db, c, 'progress', { ...progressOf(c.status, c.totalTasks, counts, ended) });
  }

  /**
   * The end of a run (completed or cancelled): its last progress event and its completed event, in the transaction
   * that moves the campaign to COMPLETED, or for a cancel (which already marked it CANCELLED) in the one that holds
   * its row while it checks the run has not ended yet — so a retried activity, or a retry of the campaign racing
   * it, never writes a second end.
   */
  async function endRun(campaignId: string, status: 'COMPLETED' | 'CANCELLED', set: Partial<typeof campaigns.$inferInsert>): Promise<void> {
    const { counts, ended } = await campaignCounts(db, campaignId);
    await db.transaction(async (t) => {
      const tx = t as unknown as Db;
      let row: CampaignRow | undefined;
      if (status === 'COMPLETED') {
        [row] = await tx.update(campaigns).set({ counts, updatedAt: new Date(), ...set })
          .where(and(eq(campaigns.id, campaignId), notInArray(campaigns.status, ['COMPLETED', 'CANCELLED']))).returning();
      } else {
        [row] = await tx.select().from(campaigns).where(and(eq(campaigns.id, campaignId), eq(campaigns.status, 'CANCELLED'))).for('update');
        if (row && (await runEnded(tx, campaignId))) row = undefined;
        if (row) [row] = await tx.update(campaigns).set({ counts, updatedAt: new Date() }).where(eq(campaigns.id, campaignId)).returning();
      }
      if (row) await writeRunEnd(tx, row, status, counts, ended);
    });
    await dispatchEvents(campaignId);
  }

  /** A chained task gets its structure once the task it starts from completed; false when it cannot (failed). */
  async function attachInput(task: TaskRow, input: TaskRow): Promise<boolean> {
    const path = taskOutputPath(deps.dataDir, input, task.inputFile ?? 'optimized_structure');
    if (!path || !existsSync(path)) {
      await finish(db, task.id, { status: 'FAILED', errorType: 'DEPENDENCY_FAILED', errorMessage: `task ${input.id} has no output ${task.inputFile}` });
      return false;
    }
    const s = await structureFromTaskOutput(db, deps.dataDir, input, path, task.ownerId);
    // The task keeps the input's structure name: scores match structures to their DFT references by it.
    await db.update(tasks).set({ structureId: s.id }).where(eq(tasks.id, task.id));
    task.structureId = s.id;
    return true;
  }

  async function startTask(client: Client, task: TaskRow): Promise<void> {
    await startTaskWorkflow(client, task, deps.config);
    // Into the line as its workflow's first request, once the workflow exists to be told its slot.
    const released = await releaseToLine(db, task.id, { priority: task.priority, campaign_id: task.campaignId });
    if (!released) await db.update(tasks).set({ queuedAt: sql`coalesce(${tasks.queuedAt}, now())` }).where(eq(tasks.id, task.id));
  }

  return {
    /** One look at the campaign: starts up to `startBatch` ready tasks (or reuses their results) and refreshes the counts. */
    async advanceCampaign(input: { campaignId: string; startTasks: boolean; startBatch: number }): Promise<CampaignLook> {
      const [c] = await db.select().from(campaigns).where(eq(campaigns.id, input.campaignId));
      if (!c) return { status: 'CANCELLED', counts: {}, finished: true, more: false };
      if (c.status === 'CANCELLED') return { status: c.status, counts: c.counts, finished: true, more: false };
      let more = false;
      if (input.startTasks) {
        const client = Context.current().client;
        const reuse = (c.options as { reuse?: boolean }).reuse !== false;
        const resolved = new Map<string, Promise<ResolvedRun>>();
        const resolve: ResolveRun = (type, model, params) => {
          const k = JSON.stringify([type, model, params]);
          if (!resolved.has(k)) resolved.set(k, deps.resolve(type, model, params));
          return resolved.get(k)!;
        };
        const input_ = alias(tasks, 'input_task');
        // Not started yet, and either standalone or chained to a task that has ended.
        const ready = await db.select({ task: tasks, input: input_ }).from(tasks)
          .leftJoin(input_, eq(input_.id, tasks.inputTaskId))
          .where(and(
            eq(tasks.campaignId, c.id), eq(tasks.status, 'PENDING'), isNull(tasks.queuedAt),
            sql`(${tasks.inputTaskId} is null or ${input_.status} in ('COMPLETED','FAILED','CANCELLED','TIMEOUT'))`,
          ))
          .orderBy(asc(tasks.campaignKey)).limit(input.startBatch);
        more = ready.length === input.startBatch;
        // Tasks that ended in this look (a reused result, a failed dependency) send no signal, and the tasks chained
        // to them are ready now: look again at once rather than at the idle look.
        let endedHere = false;
        for (const { task, input: from } of ready) {
          Context.current().heartbeat();
          if (from) {
            if (from.status !== 'COMPLETED') {
              await finish(db, task.id, {
                status: 'FAILED', errorType: 'DEPENDENCY_FAILED', errorMessage: `task ${from.id} it starts from ended ${from.status}`,
              });
              endedHere = true;
              continue;
            }
            if (!task.structureId && !(await attachInput(task, from))) { endedHere = true; continue; }
          }
          if (reuse) {
            const key = await cacheKeyFor(db, resolve, task).catch(() => null);
            const cached = key ? await findCached(db, key, task.id) : undefined;
            if (key && cached && (await reuseResult(db, deps.dataDir, task.id, cached, key))) { endedHere = true; continue; }
          }
          await startTask(client, task);
        }
        if (endedHere) more = true;
      }
      const { counts, ended } = await campaignCounts(db, c.id);
      const finished = ended >= c.totalTasks;
      await db.update(campaigns).set({ counts, updatedAt: new Date(), startedAt: c.startedAt ?? new Date() }).where(eq(campaigns.id, c.id));
      // The last progress event comes with the completion.
      if (!finished) await noteProgress(c, counts, ended);
      await dispatchEvents(c.id);
      return { status: c.status, counts, finished, more };
    },

    /** Cancels every unfinished task of the campaign; running ones are stopped by their workflows. */
    async cancelCampaignTasks(input: { campaignId: string }): Promise<void> {
      const client = Context.current().client;
      await db.update(campaigns).set({ status: 'CANCELLED', finishedAt: sql`coalesce(${campaigns.finishedAt}, now())`, updatedAt: new Date() })
        .where(eq(campaigns.id, input.campaignId));
      // Never started: nothing to stop.
      const idle = await db.select({ id: tasks.id }).from(tasks)
        .where(and(eq(tasks.campaignId, input.campaignId), eq(tasks.status, 'PENDING'), isNull(tasks.queuedAt)));
      for (const t of idle) {
        Context.current().heartbeat();
        await finish(db, t.id, { status: 'CANCELLED', errorType: 'CANCELLED', errorMessage: 'campaign cancelled' });
      }
      const live = await db.select({ id: tasks.id, status: tasks.status }).from(tasks)
        .where(and(eq(tasks.campaignId, input.campaignId), notInArray(tasks.status, TERMINAL)));
      const gone = await signalAll(client, live.map((t) => t.id), cancelSignal);
      // Not running: cancelled now (the workflow's own terminal write is then a no-op); running ones stop within seconds.
      for (const t of live) {
        Context.current().heartbeat();
        if (t.status !== 'RUNNING' || gone.has(t.id)) {
          await finish(db, t.id, { status: 'CANCELLED', errorType: 'CANCELLED', errorMessage: 'campaign cancelled' });
        }
      }
      const { counts } = await campaignCounts(db, input.campaignId);
      await db.update(campaigns).set({ counts }).where(eq(campaigns.id, input.campaignId));
    },

    /** Pauses (queued and running tasks; running ones are checkpointed) or resumes the campaign's tasks. */
    async setCampaignPaused(input: { campaignId: string; paused: boolean }): Promise<void> {
      const client = Context.current().client;
      await db.update(campaigns).set({ status: input.paused ? 'PAUSED' : 'RUNNING', updatedAt: new Date() })
        .where(and(eq(campaigns.id, input.campaignId), inArray(campaigns.status, ['RUNNING', 'PAUSED', 'PENDING'])));
      const states = input.paused ? ['QUEUED', 'RUNNING'] : ['PAUSED', 'QUEUED'];
      const rows = await db.select({ id: tasks.id }).from(tasks)
        .where(and(eq(tasks.campaignId, input.campaignId), inArray(tasks.status, states)));
      await signalAll(client, rows.map((r) => r.id), input.paused ? pauseSignal : resumeSignal);
    },

    /**
     * Records the end of a campaign whose tasks all ended, with its scores, and writes its last progress event and
     * its `completed` event (once: a retried activity finds the campaign COMPLETED and only re-dispatches).
     */
    async completeCampaign(input: { campaignId: string }): Promise<void> {
      let scores: Record<string, unknown> | null = null;
      let errorMessage: string | null = null;
      if (deps.scoreCampaign) {
        // Scoring a large campaign reads all of its results; the beat keeps it inside the activity's heartbeat timeout.
        const ctx = Context.current();
        const beat = setInterval(() => ctx.heartbeat(), 10_000);
        try { scores = (await deps.scoreCampaign(db, input.campaignId)) as Record<string, unknown>; } catch (err) { errorMessage = `scoring failed: ${(err as Error).message}`; }
        finally { clearInterval(beat); }
      }
      await endRun(input.campaignId, 'COMPLETED', { status: 'COMPLETED', scores, errorMessage, finishedAt: new Date() });
    },

    /**
     * A cancelled campaign's end, once its tasks stopped (or, with `force`, when the wait for them ran out): its last
     * progress and its `completed` event with status CANCELLED. `retried`: it was retried meanwhile and runs on.
     */
    async endCancelledCampaign(input: { campaignId: string; force: boolean }): Promise<'ended' | 'waiting' | 'retried'> {
      const [c] = await db.select({ total: campaigns.totalTasks, status: campaigns.status }).from(campaigns).where(eq(campaigns.id, input.campaignId));
      if (!c) return 'ended';
      if (c.status !== 'CANCELLED') return 'retried';
      const { ended } = await campaignCounts(db, input.campaignId);
      if (ended < c.total && !input.force) return 'waiting';
      await endRun(input.campaignId, 'CANCELLED', {});
      return 'ended';
    },
  };
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
