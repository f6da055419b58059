/**
 * Benchmark results from Postgres, through the read-only role (grafana/postgres-readonly.sql): per model × task,
 * the metric against the DFT reference. It reads the tasks table; it fills up as campaigns land.
 */
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { sqlTable } from './common.js';

// A JSON number field as float8, NULL when absent or not a number (a NaN travels as null).
const num = (path: string) => `case when jsonb_typeof(result #> '{${path}}') = 'number' then (result #>> '{${path}}')::float8 end`;

export const BENCHMARK_SQL = {
  optimisationVsDft: `select model,
  count(*) as structures,
  round(avg(abs(${num('reference,volume_vs_dft_percent')}))::numeric, 2) as mean_abs_volume_error_percent,
  round(100.0 * avg(case when (result #>> '{reference,within_10_percent}') = 'true' then 1 else 0 end)::numeric, 1) as within_10_percent_share,
  round(100.0 * avg(case when (result ->> 'converged') = 'true' then 1 else 0 end)::numeric, 1) as converged_percent
from tasks
where task_type = 'optimization' and status = 'COMPLETED' and result ? 'reference'
group by model
order by mean_abs_volume_error_percent nulls last`,
  bulkModulus: `select model,
  count(*) as structures,
  round(avg(${num('bulk_modulus_GPa')})::numeric, 2) as mean_bulk_modulus_GPa,
  round(min(${num('bulk_modulus_GPa')})::numeric, 2) as min_GPa,
  round(max(${num('bulk_modulus_GPa')})::numeric, 2) as max_GPa
from tasks
where task_type = 'bulk-modulus' and status = 'COMPLETED'
group by model
order by model`,
  modelTaskSummary: `select model, task_type,
  count(*) filter (where status = 'COMPLETED') as completed,
  count(*) filter (where status = 'FAILED') as failed,
  count(*) filter (where status in ('PENDING', 'QUEUED', 'RUNNING', 'PAUSED')) as in_progress,
  round(avg(duration_seconds) filter (where status = 'COMPLETED')::numeric, 1) as mean_seconds
from tasks
group by model, task_type
order by model, task_type`,
  failuresByType: `select model, task_type, coalesce(error_type, 'none') as error_type, count(*) as tasks
from tasks
where status = 'FAILED'
group by model, task_type, error_type
order by tasks desc
limit 50`,
} as const;

export function benchmarkResultsDashboard() {
  return new DashboardBuilder('MOFSim / Benchmark results')
    .uid('mofsim-benchmark-results')
    .tags(['mofsim', 'generated', 'mofsimbench'])
    .refresh('5m')
    .time({ from: 'now-30d', to: 'now' })
    .withRow(new RowBuilder('Against DFT'))
    .withPanel(sqlTable('Optimisation: cell volume vs DFT, per model', BENCHMARK_SQL.optimisationVsDft, {
      description: 'MOFSimBench §1.1: |V_model − V_DFT| / V_DFT of the relaxed cell; the share within 10 % is the benchmark\'s score.',
    }))
    .withPanel(sqlTable('Bulk modulus per model', BENCHMARK_SQL.bulkModulus))
    .withRow(new RowBuilder('Coverage'))
    .withPanel(sqlTable('Tasks per model × task type', BENCHMARK_SQL.modelTaskSummary, { span: 12 }))
    .withPanel(sqlTable('Failures by error type', BENCHMARK_SQL.failuresByType, { span: 12 }));
}
