/**
 * What one evaluation does with one rule: the firing → resolved lifecycle, its cooldown and deduplication, decided
 * from the rule, the measured value and the rule's unresolved alert (if any). Pure, so the rules are testable
 * without a stack; the store enforces the deduplication too (one unresolved alert per rule).
 */

export const ALERT_OPERATORS = ['>', '<', '>=', '<=', '==', '!='] as const;
export type AlertOperator = (typeof ALERT_OPERATORS)[number];

export interface AlertCondition { metric: string; operator: string; threshold: number }

/** Whether `value` meets the condition; an unmeasurable value (null) never does. */
export function conditionHolds(c: AlertCondition, value: number | null): boolean {
  if (value === null || !Number.isFinite(value)) return false;
  switch (c.operator) {
    case '>': return value > c.threshold;
    case '<': return value < c.threshold;
    case '>=': return value >= c.threshold;
    case '<=': return value <= c.threshold;
    case '==': return value === c.threshold;
    case '!=': return value !== c.threshold;
    default: return false;
  }
}

/**
 * - `fire`: the condition holds, no alert of the rule is unresolved, and the cooldown since the rule last fired
 *   has passed;
 * - `suppress`: it holds but the rule fired less than `cooldown_seconds` ago (a flapping condition notifies once
 *   per cooldown);
 * - `ongoing`: it holds and the rule's alert is already firing (deduplicated: nothing new);
 * - `resolve`: the rule's alert is firing and the condition no longer holds, or the rule is disabled;
 * - `quiet`: nothing holds and nothing fires.
 */
export type AlertDecision = 'fire' | 'suppress' | 'ongoing' | 'resolve' | 'quiet';

export function decide(input: {
  enabled: boolean; condition: AlertCondition; cooldownSeconds: number; lastTriggered: Date | null;
  value: number | null; firing: boolean; now: Date;
}): AlertDecision {
  const holds = input.enabled && conditionHolds(input.condition, input.value);
  if (input.firing) return holds ? 'ongoing' : 'resolve';
  if (!holds) return 'quiet';
  const since = input.lastTriggered ? (input.now.getTime() - input.lastTriggered.getTime()) / 1000 : Infinity;
  return since < input.cooldownSeconds ? 'suppress' : 'fire';
}

/** The metrics that read "no worker" while workers are still coming up. */
const WORKER_METRICS = ['active_workers', 'available_gpus'] as const;

/**
 * The metrics no rule may decide on yet, while the stack starts. Workers register seconds after the API (a worker
 * bundles its workflows and starts its engine first) and the rows left by the previous run are offline or stale, so
 * without this "no worker online" would fire at every start. Until a worker has been seen active, or `graceSeconds`
 * (the stale timeout a worker's heartbeat has anyway) have passed since this evaluator started, rules on the worker
 * metrics are left as they are: none fires, and one firing from before the restart is not resolved either.
 */
export function undecidedAtStartup(
  activeWorkers: number | null, state: { workerSeen: boolean; secondsSinceStart: number; graceSeconds: number },
): ReadonlySet<string> {
  const waiting = !state.workerSeen && !((activeWorkers ?? 0) > 0) && state.secondsSinceStart < state.graceSeconds;
  return new Set(waiting ? WORKER_METRICS : []);
}
