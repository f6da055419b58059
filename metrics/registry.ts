/**
 * The process's Prometheus registry (prom-client): every metric of this process registers here, with the default
 * process metrics. One registry per process: an API and its in-process test workers share it, as they share a pid.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** Buckets (seconds) for task-scale durations: a second to a day. */
export const LONG_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

/** The label value for "none" (Prometheus has no null): an empty string, which PromQL matches with `=""`. */
export const NONE = '';
