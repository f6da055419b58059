/** Operations: the queue by priority, throughput, failures by type, p95 run times, the workers. */
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { promql, stat, timeseries } from './common.js';

export function operationsDashboard() {
  return new DashboardBuilder('MOFSim / Operations')
    .uid('mofsim-operations')
    .tags(['mofsim', 'generated'])
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .withRow(new RowBuilder('Queue'))
    // Several API processes serve the same database sample: max, not sum.
    .withPanel(stat('Waiting tasks', 'short', promql('sum(max by (priority) (mofsim_queue_depth))')))
    .withPanel(stat('Running tasks', 'short', promql('max(mofsim_tasks_active{status="RUNNING"})')))
    .withPanel(stat('Workers online', 'short', promql('max(mofsim_workers{status="online"})')))
    .withPanel(stat('Oldest waiting task', 's', promql('max(mofsim_queue_oldest_age_seconds)')))
    .withPanel(timeseries('Queue depth by priority', 'short', [promql('max by (priority) (mofsim_queue_depth)', '{{priority}}')]))
    .withPanel(timeseries('Oldest waiting task by priority', 's', [promql('max by (priority) (mofsim_queue_oldest_age_seconds)', '{{priority}}')]))
    .withRow(new RowBuilder('Throughput and failures'))
    .withPanel(timeseries('Tasks submitted / min by type', 'short', [
      promql('sum by (task_type) (rate(mofsim_tasks_submitted_total[$__rate_interval])) * 60', '{{task_type}}'),
    ], { span: 8 }))
    .withPanel(timeseries('Tasks finished / min by status', 'short', [
      promql('sum by (status) (rate(mofsim_tasks_finished_total[$__rate_interval])) * 60', '{{status}}'),
    ], { span: 8 }))
    .withPanel(timeseries('Tasks not completed, by status and error type (1 h)', 'short', [
      promql('sum by (status, error_type) (increase(mofsim_tasks_finished_total{status!="COMPLETED"}[1h]))', '{{status}} {{error_type}}'),
    ], { span: 8 }))
    .withPanel(timeseries('Failure rate (15 min)', 'percentunit', [
      // No failure at all is 0 %, not "no data".
      promql('(sum(rate(mofsim_tasks_finished_total{status=~"FAILED|TIMEOUT"}[15m])) or vector(0)) / sum(rate(mofsim_tasks_finished_total[15m]))', 'failed'),
    ], { description: 'Share of finished tasks that failed or timed out; cancellations are not failures.' }))
    .withPanel(timeseries('Queue wait p50 / p95', 's', [
      promql('histogram_quantile(0.5, sum by (le) (rate(mofsim_queue_wait_seconds_bucket[$__rate_interval])))', 'p50'),
      promql('histogram_quantile(0.95, sum by (le) (rate(mofsim_queue_wait_seconds_bucket[$__rate_interval])))', 'p95', 'B'),
    ]))
    .withRow(new RowBuilder('Run times'))
    .withPanel(timeseries('Run time p95 by task type', 's', [
      promql('histogram_quantile(0.95, sum by (le, task_type) (rate(mofsim_task_run_seconds_bucket{outcome="completed"}[$__rate_interval])))', '{{task_type}}'),
    ]))
    .withPanel(timeseries('Run time p95 by model', 's', [
      promql('histogram_quantile(0.95, sum by (le, model) (rate(mofsim_task_run_seconds_bucket{outcome="completed"}[$__rate_interval])))', '{{model}}'),
    ]))
    .withRow(new RowBuilder('Workers'))
    .withPanel(timeseries('Worker up', 'short', [promql('max by (worker_id) (mofsim_worker_up)', '{{worker_id}}')], { span: 8 }))
    .withPanel(timeseries('Jobs vs slots', 'short', [
      promql('max by (worker_id) (mofsim_worker_jobs)', '{{worker_id}} jobs'),
      promql('max by (worker_id) (mofsim_worker_slots)', '{{worker_id}} slots', 'B'),
    ], { span: 8 }))
    .withPanel(timeseries('Heartbeat age', 's', [promql('max by (worker_id) (mofsim_worker_heartbeat_age_seconds)', '{{worker_id}}')], { span: 8 }))
    .withPanel(timeseries('Engine memory budget used', 'percentunit', [
      promql('max by (worker_id) (mofsim_worker_memory_used_bytes) / max by (worker_id) (mofsim_worker_memory_budget_bytes)', '{{worker_id}}'),
    ], { span: 8 }))
    .withPanel(timeseries('Draining', 'short', [promql('max by (worker_id) (mofsim_worker_draining)', '{{worker_id}}')], { span: 8 }))
    .withPanel(timeseries('Data directory free', 'bytes', [promql('min(mofsim_data_dir_free_bytes)', 'free')], { span: 8 }));
}
