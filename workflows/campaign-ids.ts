/** Names shared by the campaign workflow, the task workflows it owns and the API (no workflow code here). */
import { defineSignal } from '@temporalio/workflow';

/** The campaign workflow's id. */
export const campaignWorkflowId = (campaignId: string) => `campaign-${campaignId}`;

/** A task of the campaign ended (sent by its task workflow); the campaign looks at its tasks again. */
export const campaignTaskEndedSignal = defineSignal('campaignTaskEnded');
/** Something changed in the campaign's rows (a retry reset failed tasks): look again. */
export const campaignWakeSignal = defineSignal('campaignWake');
/** Cancel the campaign: every unfinished task is cancelled (running ones are stopped). */
export const campaignCancelSignal = defineSignal('campaignCancel');
/** Pause the campaign: no new task starts, queued and running ones are paused (running ones checkpointed). */
export const campaignPauseSignal = defineSignal('campaignPause');
/** Resume a paused campaign. */
export const campaignResumeSignal = defineSignal('campaignResume');
