/** The alert lifecycle rules (server/alerting/alert-decision.ts): operators, cooldown, deduplication, resolution. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conditionHolds, decide, undecidedAtStartup } from '../server/alerting/alert-decision.js';

const now = new Date('2026-12-01T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000);
const rule = { enabled: true, condition: { metric: 'active_workers', operator: '<', threshold: 1 }, cooldownSeconds: 60, lastTriggered: null as Date | null };

describe('alert decisions', () => {
  it('compares with every operator, and never holds on an unmeasurable value', () => {
    const c = (operator: string, value: number | null) => conditionHolds({ metric: 'm', operator, threshold: 5 }, value);
    assert.deepEqual(['>', '<', '>=', '<=', '==', '!='].map((op) => c(op, 5)), [false, false, true, true, true, false]);
    assert.deepEqual(['>', '<', '>=', '<=', '==', '!='].map((op) => c(op, 6)), [true, false, true, false, false, true]);
    assert.equal(c('<', null), false);
    assert.equal(c('<', Number.NaN), false);
    assert.equal(c('~', 1), false);
  });

  it('fires when the condition holds and nothing fires, unless the rule fired within its cooldown', () => {
    assert.equal(decide({ ...rule, value: 0, firing: false, now }), 'fire');
    assert.equal(decide({ ...rule, lastTriggered: ago(30), value: 0, firing: false, now }), 'suppress');
    assert.equal(decide({ ...rule, lastTriggered: ago(60), value: 0, firing: false, now }), 'fire');
    assert.equal(decide({ ...rule, cooldownSeconds: 0, lastTriggered: ago(0), value: 0, firing: false, now }), 'fire');
  });

  it('deduplicates while the alert fires, and resolves when the condition ends or the rule is disabled', () => {
    assert.equal(decide({ ...rule, value: 0, firing: true, now }), 'ongoing');
    assert.equal(decide({ ...rule, value: 1, firing: true, now }), 'resolve');
    assert.equal(decide({ ...rule, value: null, firing: true, now }), 'resolve');
    assert.equal(decide({ ...rule, enabled: false, value: 0, firing: true, now }), 'resolve');
    assert.equal(decide({ ...rule, enabled: false, value: 0, firing: false, now }), 'quiet');
    assert.equal(decide({ ...rule, value: 3, firing: false, now }), 'quiet');
  });

  it('leaves the worker metrics undecided while the stack starts, until a worker is seen or the stale timeout passes', () => {
    const at = (activeWorkers: number | null, secondsSinceStart: number, workerSeen = false) =>
      [...undecidedAtStartup(activeWorkers, { workerSeen, secondsSinceStart, graceSeconds: 15 })].sort();
    assert.deepEqual(at(0, 2), ['active_workers', 'available_gpus'], 'no worker yet, 2 s after start');
    assert.deepEqual(at(null, 14.9), ['active_workers', 'available_gpus']);
    assert.deepEqual(at(0, 15), [], 'the stale timeout has passed: no worker is an outage');
    assert.deepEqual(at(1, 2), [], 'a worker is active: measured as it is');
    assert.deepEqual(at(0, 2, true), [], 'a worker was seen and went away: an outage at once');
  });
});
